#!/usr/bin/env bash
# Smoke test of the OpenID peer: installs it (npm ci), starts it on a free
# loopback port with a generated sample configuration, and drives every
# capability the interop suite relies on with curl. Ends with a line
# "N passed, N failed" and exits non-zero on any failure.
#
#   internal/interop/oidcpeer/smoke.sh            (needs node 20+, npm, curl, openssl)
#   KEEP=1 ...   keeps the work folder (config, keys, server log, transcript)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/oidcpeer-smoke.XXXXXX)
tool() { node "$here/peertool.mjs" "$@"; }
log=$work/transcript.txt
pass=0 fail=0
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  if [ -n "${KEEP:-}" ] || [ "$fail" -ne 0 ]; then echo "smoke: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1${2:+: $2}"; }
# check NAME ACTUAL EXPECTED: equality
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got '$2', want '$3'"; fi; }

# post PATH ARGS...: POST to the peer, records request and answer in the
# transcript, prints the answer body.
post() {
  local p=$1; shift
  local body
  body=$(curl -sS -X POST "$@" "$base$p")
  printf '> POST %s %s\n< %s\n\n' "$p" "$*" "$body" >>"$log"
  printf '%s' "$body"
}
get() { tool get "$1"; }
introspect() { post /token/introspection -d client_id=mo-dovecot -d client_secret=dovecot-secret --data-urlencode "token=$1"; }
token_basic() { post /token -u mo-basic:basic-secret "$@"; }
dc_grant=urn:ietf:params:oauth:grant-type:device_code

echo "== npm ci"
start=$(date +%s%N)
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "npm ci took $(( ($(date +%s%N) - start) / 1000000 )) ms"

port=$(tool freeport)
base=http://127.0.0.1:$port
tool config "$work" "$port"
start=$(date +%s%N)
node "$here/server.mjs" "$work/config.json" "$port" >"$work/server.out" 2>"$work/server.log" &
server=$!
for _ in $(seq 200); do grep -q '"ready":true' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
grep -q '"ready":true' "$work/server.out" || { cat "$work/server.log"; echo "server did not start"; exit 1; }
echo "== peer at $base (pid $server), ready after $(( ($(date +%s%N) - start) / 1000000 )) ms, $(grep VmRSS /proc/$server/status | tr -s ' ')"

echo "== discovery"
disc=$(curl -sS "$base/.well-known/openid-configuration")
echo "$disc" >"$work/discovery.json"
check "discovery issuer" "$(echo "$disc" | get issuer)" "$base"
check "discovery introspection_endpoint" "$(echo "$disc" | get introspection_endpoint)" "$base/token/introspection"
check "discovery device_authorization_endpoint" "$(echo "$disc" | get device_authorization_endpoint)" "$base/device/auth"
check "discovery authorization_response_iss_parameter_supported" "$(echo "$disc" | get authorization_response_iss_parameter_supported)" "true"
check "discovery code_challenge_methods_supported" "$(echo "$disc" | get code_challenge_methods_supported)" '["S256"]'
check "RFC 8414 metadata is the same document" "$(curl -sS "$base/.well-known/oauth-authorization-server")" "$disc"

echo "== client_credentials, one client per authentication method"
cc_check() { # NAME MAILBOX ANSWER
  local at; at=$(echo "$3" | get access_token)
  check "$1: scope" "$(echo "$3" | get scope)" "mail"
  local intro; intro=$(introspect "$at")
  check "$1: introspection active" "$(echo "$intro" | get active)" "true"
  check "$1: introspection email" "$(echo "$intro" | get email)" "$2"
  check "$1: introspection aud" "$(echo "$intro" | get aud)" "imap://127.0.0.1"
}
cc_check "client_secret_basic" svc-basic@example.test "$(token_basic -d grant_type=client_credentials -d scope=mail)"
cc_check "client_secret_post" svc-post@example.test "$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-post -d client_secret=post-secret)"
for a in RS256:c-rsa:client-rsa PS256:c-rsa:client-rsa ES256:c-ec:client-ec; do
  IFS=: read -r alg kid key <<<"$a"
  jwt=$(tool assertion "$work/$key.pem" "$alg" "$kid" mo-jwt "$base")
  cc_check "private_key_jwt $alg" svc-jwt@example.test "$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-jwt \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion="$jwt")"
done
jwt=$(tool assertion "$work/client-rsa.pem" RS256 c-rsa mo-jwt "$base/token")
check "private_key_jwt with the token endpoint as audience" "$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-jwt \
  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion="$jwt" | get token_type)" "Bearer"
check "private_key_jwt replayed assertion: invalid_client" "$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-jwt \
  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d client_assertion="$jwt" | get error)" "invalid_client"
check "wrong secret: invalid_client" "$(post /token -u mo-basic:wrong -d grant_type=client_credentials | get error)" "invalid_client"
# oidc-provider takes client_secret_basic and client_secret_post as one
# method: a client registered with either may use both.
check "client_secret_basic client sending its secret in the body is accepted" "$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-basic -d client_secret=basic-secret | get token_type)" "Bearer"
check "public client posing as confidential: invalid_client" "$(post /token -d grant_type=client_credentials -d client_id=mo-public -d client_secret=x | get error)" "invalid_client"
# oidc-provider never answers unauthorized_client: a grant type the client is
# not registered for is invalid_request.
check "grant type not registered for the client: invalid_request" \
  "$(post /token -d grant_type=client_credentials -d client_id=mo-dovecot -d client_secret=dovecot-secret | get error_description)" "requested grant type is not allowed for this client"
check "unknown grant type: unsupported_grant_type" "$(token_basic -d grant_type=password -d username=a -d password=b | get error)" "unsupported_grant_type"

echo "== scopes and resource indicators"
other=$(token_basic -d grant_type=client_credentials -d scope=other)
check "token without the mail scope" "$(echo "$other" | get scope)" "other"
check "its introspection scope" "$(introspect "$(echo "$other" | get access_token)" | get scope)" "other"
check "unknown resource: invalid_target" "$(token_basic -d grant_type=client_credentials -d scope=mail -d resource=urn:unknown | get error)" "invalid_target"
check "two resources for client_credentials: invalid_target" "$(token_basic -d grant_type=client_credentials -d scope=mail \
  -d resource=imap://127.0.0.1 -d resource=urn:mailoauth:jwt:rs256 | get error)" "invalid_target"
for r in rs256:RS256:JWT ps256:PS256:JWT es256:ES256:JWT hs256:HS256:JWT rfc9068:RS256:at+jwt; do
  IFS=: read -r name alg typ <<<"$r"
  at=$(token_basic -d grant_type=client_credentials -d scope=mail -d "resource=urn:mailoauth:jwt:$name" | get access_token)
  check "JWT access token for urn:mailoauth:jwt:$name: header" "$(echo "$at" | tool jwt-part 0 | tool get alg)/$(echo "$at" | tool jwt-part 0 | tool get typ)" "$alg/$typ"
  check "JWT access token for urn:mailoauth:jwt:$name: email, aud, scope" \
    "$(p=$(echo "$at" | tool jwt-part 1); echo "$(echo "$p" | get email) $(echo "$p" | get aud) $(echo "$p" | get scope)")" \
    "svc-basic@example.test urn:mailoauth:jwt:$name mail"
done
check "a JWT access token cannot be introspected: unsupported_token_type" "$(introspect "$at" | get error)" "unsupported_token_type"
check "introspection of garbage" "$(introspect not-a-token)" '{"active":false}'
check "introspection without client authentication: invalid_request" "$(post /token/introspection -d token=x | get error)" "invalid_request"
check "introspection with a wrong secret: invalid_client" "$(post /token/introspection -d client_id=mo-dovecot -d client_secret=wrong -d token=x | get error)" "invalid_client"
cc=$(post /token -d grant_type=client_credentials -d scope=mail -d client_id=mo-post -d client_secret=post-secret | get access_token)
check "a client without introspect may not introspect others' tokens" "$(post /token/introspection -u mo-basic:basic-secret -d token="$cc")" '{"active":false}'
check "... but its own" "$(post /token/introspection -d client_id=mo-post -d client_secret=post-secret -d token="$cc" | get active)" "true"

echo "== device authorization grant (RFC 8628)"
d=$(post /device/auth -u mo-basic:basic-secret -d "scope=openid offline_access mail")
dc=$(echo "$d" | get device_code); uc=$(echo "$d" | get user_code)
check "device authorization announces interval" "$(echo "$d" | get interval)" "1"
check "poll at once: slow_down" "$(token_basic -d grant_type=$dc_grant -d device_code="$dc" | get error)" "slow_down"
sleep 1.1
check "poll after the interval: authorization_pending" "$(token_basic -d grant_type=$dc_grant -d device_code="$dc" | get error)" "authorization_pending"
check "approve" "$(post /test/approve-device -H 'content-type: application/json' -d "{\"user_code\":\"$uc\",\"user\":\"alice@example.test\"}" | get approved)" "true"
check "approve again: conflict" "$(post /test/approve-device -d user_code="$uc" -d user=alice@example.test | get error)" "user_code already used"
sleep 1
dtok=$(token_basic -d grant_type=$dc_grant -d device_code="$dc")
check "device token scope" "$(echo "$dtok" | get scope)" "mail"
check "device token has a refresh token" "$([ -n "$(echo "$dtok" | get refresh_token)" ] && echo yes)" "yes"
check "device access token introspects as alice" "$(introspect "$(echo "$dtok" | get access_token)" | get email)" "alice@example.test"
d=$(post /device/auth -u mo-basic:basic-secret -d "scope=offline_access mail")
post /test/approve-device -d user_code="$(echo "$d" | get user_code)" -d deny=true >/dev/null
sleep 1
check "denied device code: access_denied" "$(token_basic -d grant_type=$dc_grant -d device_code="$(echo "$d" | get device_code)" | get error)" "access_denied"
d=$(post /device/auth -u mo-short:short-secret -d "scope=mail")
sleep 3
check "device code past its 2 s lifetime: expired_token" "$(post /token -u mo-short:short-secret -d grant_type=$dc_grant -d device_code="$(echo "$d" | get device_code)" | get error)" "expired_token"
check "unknown device code: invalid_grant" "$(token_basic -d grant_type=$dc_grant -d device_code=nope | get error)" "invalid_grant"
check "approve an unknown user_code: 404" "$(curl -s -o /dev/null -w '%{http_code}' -d user_code=XXXX-XXXX "$base/test/approve-device")" "404"

echo "== authorization code + PKCE through the headless interaction"
# authorize URL COOKIEJAR: follows the redirects the way an HTTP client with
# a cookie jar does, stops at the client's redirect_uri and prints it.
authorize() {
  local url=$1 jar=$2 out code
  for _ in $(seq 10); do
    out=$(curl -sS -b "$jar" -c "$jar" -o "$work/last-body" -w '%{http_code} %{redirect_url}' "$url")
    code=${out%% *}; url=${out#* }
    printf '> GET (authorize hop) -> %s %s\n' "$code" "$url" >>"$log"
    case "$code" in 30[1237]) ;; *) echo "stopped at HTTP $code: $(cat "$work/last-body")" >&2; return 1 ;; esac
    case "$url" in "$base"/*) ;; *) echo "$url"; return 0 ;; esac
  done
  return 1
}
read -r verifier challenge <<<"$(tool pkce)"
cb=http://127.0.0.1:45678/callback # a native client may use any loopback port
q="client_id=mo-public&response_type=code&redirect_uri=$cb&scope=openid%20offline_access%20mail&state=st-1&code_challenge=$challenge&code_challenge_method=S256&login_hint=bob@example.test&prompt=consent"
final=$(authorize "$base/auth?$q" "$work/jar1")
check "redirect ends at the redirect_uri" "${final%%\?*}" "$cb"
check "authorization response state" "$(tool query "$final" state)" "st-1"
check "authorization response iss (RFC 9207)" "$(tool query "$final" iss)" "$base"
code=$(tool query "$final" code)
check "code without code_verifier: invalid_grant" "$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$code" -d redirect_uri=$cb | get error)" "invalid_grant"
final=$(authorize "$base/auth?$q" "$work/jar1")
code=$(tool query "$final" code)
check "code with a wrong code_verifier: invalid_grant" "$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$code" -d redirect_uri=$cb -d code_verifier=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA | get error)" "invalid_grant"
final=$(authorize "$base/auth?$q" "$work/jar1")
code=$(tool query "$final" code)
atok=$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$code" -d redirect_uri=$cb -d code_verifier="$verifier")
check "code exchange: scope" "$(echo "$atok" | get scope)" "mail"
check "code exchange: id_token names bob" "$(echo "$atok" | get id_token | tool jwt-part 1 | tool get sub)" "u-bob"
check "code access token introspects as bob" "$(introspect "$(echo "$atok" | get access_token)" | get email)" "bob@example.test"
check "code used twice: invalid_grant" "$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$code" -d redirect_uri=$cb -d code_verifier="$verifier" | get error)" "invalid_grant"
check "... and its tokens are revoked (RFC 6749 4.1.2)" "$(introspect "$(echo "$atok" | get access_token)" | get active)" "false"
check "authorization request without PKCE: invalid_request" \
  "$(tool query "$(authorize "$base/auth?client_id=mo-public&response_type=code&redirect_uri=$cb&scope=mail&state=s" "$work/jar1")" error)" "invalid_request"
denied=$(authorize "$base/auth?client_id=mo-public&response_type=code&redirect_uri=$cb&scope=mail&state=s&code_challenge=$challenge&code_challenge_method=S256&login_hint=nobody@example.test" "$work/jar1")
printf '> authorize with an unknown login_hint -> %s\n\n' "$denied" >>"$log"
check "unknown login_hint: access_denied at the redirect_uri" "$(tool query "$denied" error)" "access_denied"
check "... with iss" "$(tool query "$denied" iss)" "$base"
# The same cookie jar again, for another user: no single sign-on.
read -r v2 c2 <<<"$(tool pkce)"
final=$(authorize "$base/auth?client_id=mo-post&response_type=code&redirect_uri=http://127.0.0.1:18081/callback&scope=openid%20offline_access%20other&state=s2&code_challenge=$c2&code_challenge_method=S256&login_hint=alice@example.test&prompt=consent" "$work/jar1")
otok=$(post /token -d grant_type=authorization_code -d client_id=mo-post -d client_secret=post-secret -d code="$(tool query "$final" code)" \
  -d redirect_uri=http://127.0.0.1:18081/callback -d code_verifier="$v2")
check "confidential client, same jar, other user, scope without mail" "$(introspect "$(echo "$otok" | get access_token)" | tool get email)/$(echo "$otok" | get scope)" "alice@example.test/other"
final=$(authorize "$base/auth?client_id=mo-public&response_type=code&redirect_uri=$cb&scope=openid%20offline_access%20mail&state=s3&code_challenge=$challenge&code_challenge_method=S256&login_hint=bob@example.test" "$work/jar1")
check "offline_access without prompt=consent: no refresh token" "$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$(tool query "$final" code)" -d redirect_uri=$cb -d code_verifier="$verifier" | get refresh_token)" ""

echo "== refresh token rotation and reuse detection"
rt1=$(echo "$atok" | get refresh_token)
final=$(authorize "$base/auth?$q" "$work/jar2")
atok=$(post /token -d grant_type=authorization_code -d client_id=mo-public -d code="$(tool query "$final" code)" -d redirect_uri=$cb -d code_verifier="$verifier")
rt1=$(echo "$atok" | get refresh_token)
r1=$(post /token -d grant_type=refresh_token -d client_id=mo-public -d refresh_token="$rt1")
rt2=$(echo "$r1" | get refresh_token); at2=$(echo "$r1" | get access_token)
check "refresh rotates the refresh token" "$([ -n "$rt2" ] && [ "$rt2" != "$rt1" ] && echo rotated)" "rotated"
check "new access token is active" "$(introspect "$at2" | get active)" "true"
check "refresh asking for a scope not granted: invalid_scope" "$(post /token -d grant_type=refresh_token -d client_id=mo-public -d refresh_token="$rt2" -d "scope=mail email" | get error)" "invalid_scope"
check "reusing the rotated refresh token: invalid_grant" "$(post /token -d grant_type=refresh_token -d client_id=mo-public -d refresh_token="$rt1" | get error)" "invalid_grant"
check "reuse revoked the family: the newer refresh token is dead" "$(post /token -d grant_type=refresh_token -d client_id=mo-public -d refresh_token="$rt2" | get error)" "invalid_grant"
check "reuse revoked the family: the newer access token is inactive" "$(introspect "$at2" | get active)" "false"

echo "== revocation from the test side"
d=$(post /device/auth -u mo-basic:basic-secret -d "scope=offline_access mail")
post /test/approve-device -d user_code="$(echo "$d" | get user_code)" -d user=bob@example.test >/dev/null
sleep 1
t=$(token_basic -d grant_type=$dc_grant -d device_code="$(echo "$d" | get device_code)")
check "bob's access token is active" "$(introspect "$(echo "$t" | get access_token)" | get active)" "true"
n=$(post /test/revoke-grants -d user=bob@example.test | get grants)
check "revoke bob's grants" "$([ "$n" -ge 1 ] && echo revoked)" "revoked"
check "revoked grant: access token inactive" "$(introspect "$(echo "$t" | get access_token)" | get active)" "false"
check "revoked grant: refresh is invalid_grant" "$(token_basic -d grant_type=refresh_token -d refresh_token="$(echo "$t" | get refresh_token)" | get error)" "invalid_grant"
cct=$(post /token -u mo-short:short-secret -d grant_type=client_credentials -d scope=mail | get access_token)
check "revoke mo-short's client_credentials tokens" "$(post /test/revoke-grants -d client_id=mo-short | get clientCredentials)" "1"
check "revoked client_credentials token inactive" "$(introspect "$cct" | get active)" "false"
cct=$(token_basic -d grant_type=client_credentials -d scope=mail | get access_token)
post /token/revocation -u mo-basic:basic-secret -d token="$cct" >/dev/null
check "RFC 7009 revocation of an access token" "$(introspect "$cct" | get active)" "false"
cct=$(post /token -u mo-short:short-secret -d grant_type=client_credentials -d scope=mail | get access_token)
sleep 3
check "expired access token (2 s lifetime) inactive" "$(introspect "$cct" | get active)" "false"

echo
echo "peer memory after the run: $(grep VmRSS /proc/$server/status | tr -s ' ') ($(grep VmHWM /proc/$server/status | tr -s ' '))"
echo "transcript: $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
