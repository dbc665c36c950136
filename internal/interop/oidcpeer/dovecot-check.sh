#!/usr/bin/env bash
# Debian's Dovecot 2.3 against the OpenID peer, checked with curl's
# --oauth2-bearer over IMAP (STARTTLS and IMAPS):
#   A. oauth2 passdb with introspection_mode = post at the peer's RFC 7662
#      endpoint (client mo-dovecot), scope = mail;
#   B. introspection_mode = local: JWT access tokens checked against the
#      peer's keys (RS256, PS256, ES256, HS256) in a dict, scope = mail;
#   C. the audience setting (Debian's 2.3.19.1 has it) and scope = "mail other";
#   D. introspection without the scope setting.
# A and B each in two private instances, one offering only OAUTHBEARER and
# one only XOAUTH2 (curl picks OAUTHBEARER whenever it is offered); C and D
# in OAUTHBEARER instances. Needs root, node,
# curl, openssl; installs Dovecot through .ci/install-peers if missing.
# Ends with "N passed, N failed"; KEEP=1 keeps the work folder (transcript,
# Dovecot logs and configurations).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "dovecot-check: run as root (Dovecot's master starts as root)"; exit 1; }
[ -x /usr/sbin/dovecot ] || "$repo/.ci/install-peers"
id mailoauth-peer >/dev/null 2>&1 || "$repo/.ci/install-peers"
[ -d "$here/node_modules/oidc-provider" ] || (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

work=$(mktemp -d /tmp/mo-dv.XXXXXX) # short: Dovecot's socket paths must fit in 108 bytes
chmod 755 "$work"
log=$work/transcript.txt
tool() { node "$here/peertool.mjs" "$@"; }
pass=0 fail=0 peer="" instances=()
# alive PID: the process runs and is not a zombie
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat")" != Z ]; }
cleanup() {
  for i in "${instances[@]}"; do
    local pid; pid=$(cat "$work/$i/run/master.pid" 2>/dev/null || true)
    /usr/sbin/dovecot -c "$work/$i/dovecot.conf" stop 2>/dev/null || true
    for _ in $(seq 100); do [ -n "$pid" ] && alive "$pid" || break; sleep 0.1; done
  done
  [ -n "$peer" ] && kill "$peer" 2>/dev/null && wait "$peer" 2>/dev/null || true
  if [ -n "${KEEP:-}" ] || [ "$fail" -ne 0 ]; then echo "dovecot-check: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(tool freeport)
base=http://127.0.0.1:$port
tool config "$work" "$port"
node "$here/server.mjs" "$work/config.json" "$port" >"$work/peer.out" 2>"$work/peer.log" &
peer=$!
for _ in $(seq 100); do grep -q '"ready":true' "$work/peer.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"ready":true' "$work/peer.out" || { cat "$work/peer.log"; exit 1; }
echo "peer at $base"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/server.key" -out "$work/server.crt" 2>/dev/null
chmod 644 "$work/server.key" # test-only key, read by Dovecot's login processes

# The key dict for local validation: fs dict files named
# <azp, or "default">/<alg>/<kid, or "default">, holding a PEM public key
# (or the base64 secret for HS*). oidc-provider's JWTs carry no azp.
keys=$work/keys
mkdir -p "$keys/default/RS256" "$keys/default/PS256" "$keys/default/ES256" "$keys/default/HS256"
tool pem "$base/jwks" rsa1 >"$keys/default/RS256/rsa1"
cp "$keys/default/RS256/rsa1" "$keys/default/PS256/rsa1"
tool pem "$base/jwks" ec1 >"$keys/default/ES256/ec1"
tool get resources <"$work/config.json" | tool get urn:mailoauth:jwt:hs256 | tool get secret >"$keys/default/HS256/default"

declare -A IMAP IMAPS
# dovecot_start NAME MECHANISMS OAUTH2_CONF_LINES
dovecot_start() {
  local name=$1 d=$work/$1
  mkdir -p "$d/run" "$d/state" "$d/mail" "$d/log"
  chown mailoauth-peer: "$d/mail"
  printf '%s\n' "$3" >"$d/oauth2.conf.ext"
  IMAP[$name]=$(tool freeport); IMAPS[$name]=$(tool freeport)
  cat >"$d/dovecot.conf" <<EOF
instance_name = mo-dv-$name
base_dir = $d/run
state_dir = $d/state
log_path = $d/log/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <$work/server.crt
ssl_key = <$work/server.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = yes
auth_mechanisms = $2
auth_cache_size = 0
auth_failure_delay = 0 secs
auth_verbose = yes
first_valid_uid = $(id -u mailoauth-peer)
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=mailoauth-peer gid=mailoauth-peer home=$d/mail/%u allow_all_users=yes
}
mail_location = maildir:$d/mail/%u/Maildir
service imap-login {
  inet_listener imap {
    port = ${IMAP[$name]}
  }
  inet_listener imaps {
    port = ${IMAPS[$name]}
    ssl = yes
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
  /usr/sbin/dovecot -c "$d/dovecot.conf"
  instances+=("$name")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${IMAPS[$name]}") 2>/dev/null && return 0; sleep 0.1; done
  echo "dovecot $name did not start"; cat "$d/log/dovecot.log"; exit 1
}

# login INSTANCE USER TOKEN [imaps]: curl IMAP login + LIST; records the
# SASL exchange and Dovecot's verdict in the transcript; returns curl's code.
login() {
  local inst=$1 user=$2 token=$3 url rc
  if [ "${4:-}" = imaps ]; then url=imaps://127.0.0.1:${IMAPS[$inst]}/; else url=imap://127.0.0.1:${IMAP[$inst]}/; fi
  local before; before=$(wc -l <"$work/$inst/log/dovecot.log")
  set +e
  curl -sv --max-time 10 --cacert "$work/server.crt" --ssl-reqd "$url" --user "$user" --oauth2-bearer "$token" >"$work/curl.out" 2>&1
  rc=$?
  set -e
  sleep 0.1
  {
    echo "\$ curl -sv --cacert server.crt --ssl-reqd $url --user $user --oauth2-bearer <token>   [$inst]"
    grep -E '^< A00[0-9] |^> A00[0-9] AUTHENTICATE|^< \+|^> [A-Za-z0-9+/=]+$' "$work/curl.out" | sed -E 's/^(> A00[0-9] AUTHENTICATE [A-Z0-9]+ ).*/\1<initial response>/' || true
    echo "[curl exit code $rc]"
    tail -n +"$((before + 1))" "$work/$inst/log/dovecot.log" | grep -E 'oauth2 failed|Login:|Disconnected' | sed -E 's/^[A-Z][a-z]{2} [0-9]{2} [0-9:]{8} //; s/<[A-Za-z0-9+/]{16}>/<SESSION>/g' || true
    echo
  } >>"$log"
  return "$rc"
}

# expect NAME ok|fail INSTANCE USER TOKEN [imaps]
expect() {
  local name=$1 want=$2; shift 2
  local rc=0; login "$@" || rc=$?
  local got=fail; [ "$rc" = 0 ] && got=ok
  if [ "$got" = "$want" ]; then pass=$((pass + 1)); echo "ok   $name ($1)"; else fail=$((fail + 1)); echo "FAIL $name ($1): login $got (curl $rc), want $want"; fi
}

token() { curl -sS -u mo-basic:basic-secret -d grant_type=client_credentials "$@" "$base/token" | tool get access_token; }
device_token() { # USER RESOURCE: a delegated token through the device flow
  local d; d=$(curl -sS -u mo-basic:basic-secret -d "scope=offline_access mail" -d "resource=$2" "$base/device/auth")
  curl -sS -d user_code="$(echo "$d" | tool get user_code)" -d user="$1" "$base/test/approve-device" >/dev/null
  sleep 1
  curl -sS -u mo-basic:basic-secret -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
    -d device_code="$(echo "$d" | tool get device_code)" "$base/token" | tool get access_token
}

introspection="introspection_url = $base/token/introspection
introspection_mode = post
client_id = mo-dovecot
client_secret = dovecot-secret
username_attribute = email
username_format = %Lu
timeout_msecs = 5000"
local_validation="introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$keys/
username_attribute = email
username_format = %Lu
scope = mail"

dovecot_start intro-o oauthbearer "$introspection
scope = mail"
dovecot_start intro-x xoauth2 "$introspection
scope = mail"
dovecot_start local-o oauthbearer "$local_validation
issuers = $base"
dovecot_start local-x xoauth2 "$local_validation
issuers = $base"
dovecot_start noscope oauthbearer "$introspection"
mkdir -p "$work/nokeys"
dovecot_start nokey oauthbearer "introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$work/nokeys/
username_attribute = email
scope = mail"
dovecot_start wrongiss oauthbearer "$local_validation
issuers = https://other.example.test"
dovecot_start aud-intro oauthbearer "$introspection
scope = mail
audience = imap://127.0.0.1"
dovecot_start aud-local oauthbearer "$local_validation
audience = urn:mailoauth:jwt:rs256"
dovecot_start scope2 oauthbearer "$introspection
scope = mail other"
{ echo "# Dovecot $(/usr/sbin/dovecot --version) against $base"; echo; } >"$log"
for i in intro-o local-o; do { echo "## $i/oauth2.conf.ext"; cat "$work/$i/oauth2.conf.ext"; echo; } >>"$log"; done

alice=$(device_token alice@example.test imap://127.0.0.1)
alice_jwt=$(device_token alice@example.test urn:mailoauth:jwt:rs256)
cc=$(token -d scope=mail)
other=$(token -d scope=other)
short=$(curl -sS -u mo-short:short-secret -d grant_type=client_credentials -d scope=mail "$base/token" | tool get access_token)
short_jwt=$(curl -sS -u mo-short:short-secret -d grant_type=client_credentials -d scope=mail -d resource=urn:mailoauth:jwt:rs256 "$base/token" | tool get access_token)
declare -A jwt
for a in rs256 ps256 es256 hs256 rfc9068; do jwt[$a]=$(token -d scope=mail -d "resource=urn:mailoauth:jwt:$a"); done
jwt_other=$(token -d scope=other -d resource=urn:mailoauth:jwt:rs256)
sleep 2.5 # the mo-short tokens live 2 s

echo "== A. introspection (post), scope = mail"
for i in intro-o intro-x; do
  echo "## $i" >>"$log"
  expect "delegated token (alice), STARTTLS" ok "$i" alice@example.test "$alice"
  expect "client_credentials token (svc-basic), IMAPS" ok "$i" svc-basic@example.test "$cc" imaps
  expect "token without the mail scope" fail "$i" svc-basic@example.test "$other"
  expect "alice's token presented as bob" fail "$i" bob@example.test "$alice"
  expect "expired token" fail "$i" svc-short@example.test "$short"
  expect "JWT access token (the peer cannot introspect it)" fail "$i" svc-basic@example.test "${jwt[rs256]}"
done

echo "== B. local JWT validation, scope = mail"
for i in local-o local-x; do
  echo "## $i" >>"$log"
  for a in rs256 ps256 es256 hs256; do
    expect "JWT ${a^^} (svc-basic)" ok "$i" svc-basic@example.test "${jwt[$a]}"
  done
  expect "delegated JWT (alice), IMAPS" ok "$i" alice@example.test "$alice_jwt" imaps
  expect "JWT without the mail scope" fail "$i" svc-basic@example.test "$jwt_other"
  expect "JWT with typ at+jwt (RFC 9068)" fail "$i" svc-basic@example.test "${jwt[rfc9068]}"
  expect "opaque token" fail "$i" svc-basic@example.test "$cc"
  expect "alice's JWT presented as bob" fail "$i" bob@example.test "$alice_jwt"
  expect "expired JWT" fail "$i" svc-short@example.test "$short_jwt"
done

echo "## nokey, wrongiss" >>"$log"
expect "JWT whose key is not in the dict" fail nokey svc-basic@example.test "${jwt[rs256]}"
expect "JWT from an issuer not in issuers" fail wrongiss svc-basic@example.test "${jwt[rs256]}"

echo "== C. audience, and a setting with two scopes"
echo "## aud-intro, aud-local, scope2" >>"$log"
smtp=$(token -d scope=mail -d resource=smtp://127.0.0.1)
both=$(token -d "scope=mail other")
expect "introspection, audience = imap://127.0.0.1, token for imap" ok aud-intro svc-basic@example.test "$cc"
expect "introspection, audience = imap://127.0.0.1, token for smtp" fail aud-intro svc-basic@example.test "$smtp"
expect "local, audience = urn:mailoauth:jwt:rs256, that token" ok aud-local svc-basic@example.test "${jwt[rs256]}"
expect "local, audience = urn:mailoauth:jwt:rs256, token for ps256" fail aud-local svc-basic@example.test "${jwt[ps256]}"
expect "scope = mail other, token scope mail" fail scope2 svc-basic@example.test "$cc"
expect "scope = mail other, token scope mail other" ok scope2 svc-basic@example.test "$both"
expect "scope = mail other, token scope other" fail scope2 svc-basic@example.test "$other"

echo "== D. introspection without the scope setting"
echo "## noscope" >>"$log"
expect "token without the mail scope" ok noscope svc-basic@example.test "$other"

echo "== revoking alice's grants at the peer"
curl -sS -d user=alice@example.test "$base/test/revoke-grants" >>"$log"; echo >>"$log"
echo "## after revoking alice's grants" >>"$log"
expect "revoked delegated token, introspection" fail intro-o alice@example.test "$alice"
expect "revoked delegated token, introspection" fail intro-x alice@example.test "$alice"
expect "revoked delegated JWT, local validation (cannot see revocation)" ok local-o alice@example.test "$alice_jwt"

echo
echo "transcript: $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
