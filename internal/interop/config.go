//go:build interop && linux

package interop

// The server configurations, filled in by StartPeers. Dovecot runs as its
// own instance with its own base_dir, so the system's Dovecot (if any) is
// untouched; Postfix runs from its own configuration folder and queue.

const dovecotConf = `instance_name = {{.Instance}}
base_dir = {{.Dir}}/run/dovecot
state_dir = {{.Dir}}/state
log_path = {{.Dir}}/log/dovecot.log
info_log_path = {{.Dir}}/log/dovecot.log
listen = 127.0.0.1
protocols = imap{{if not .IMAPOnly}} submission lmtp{{end}}
hostname = mailpeer.test
postmaster_address = postmaster@example.test
ssl = yes
ssl_cert = <{{.Dir}}/tls/server-chain.crt
ssl_key = <{{.Dir}}/tls/server.key
{{if .DH}}ssl_dh = </usr/share/dovecot/dh.pem
{{end}}ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {{.Mechanisms}}
auth_cache_size = 0
auth_failure_delay = 0 secs
auth_verbose = yes
first_valid_uid = {{.UID}}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {{.Dir}}/dovecot/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid={{.User}} gid={{.User}} home={{.Dir}}/mail/%u allow_all_users=yes
}
mail_location = maildir:{{.Dir}}/mail/%u/Maildir
namespace inbox {
  inbox = yes
  mailbox Processed {
    auto = create
  }
}
{{if not .IMAPOnly}}submission_relay_host = 127.0.0.1
submission_relay_port = {{.Relay}}
submission_relay_trusted = yes
{{end}}service imap-login {
  inet_listener imap {
    port = {{.IMAP}}
  }
  inet_listener imaps {
    port = {{.IMAPS}}
    ssl = yes
  }
}
{{if not .IMAPOnly}}service submission-login {
  inet_listener submission {
    port = {{.Submission}}
  }
  inet_listener submissions {
    port = {{.Submissions}}
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
{{end}}service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`

const postfixMain = `compatibility_level = 3.6
queue_directory = {{.Dir}}/postfix/spool
data_directory = {{.Dir}}/postfix/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mailpeer.test
mydomain = mailpeer.test
maillog_file = {{.Dir}}/log/postfix.log
maillog_file_prefixes = {{.Dir}}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
transport_maps = static:lmtp:unix:{{.Dir}}/run/dovecot/lmtp
default_transport = error:the interop peer never relays outside
relay_transport = error:the interop peer never relays outside
smtpd_sasl_type = dovecot
smtpd_sasl_path = {{.Dir}}/run/dovecot/auth-postfix
smtpd_tls_cert_file = {{.Dir}}/tls/server-chain.crt
smtpd_tls_key_file = {{.Dir}}/tls/server.key
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtputf8_enable = no
biff = no
`

const postfixMaster = `127.0.0.1:{{.Relay}} inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=no
  -o smtpd_tls_security_level=none
  -o smtpd_relay_restrictions=permit_mynetworks,reject
127.0.0.1:{{.PostfixSubmission}} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
