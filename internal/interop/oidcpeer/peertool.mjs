// Helpers for smoke.sh and dovecot-check.sh (node's standard library only):
//
//   node peertool.mjs config DIR PORT      writes DIR/config.json and the
//                                          private_key_jwt client's keys
//                                          DIR/client-rsa.pem, DIR/client-ec.pem
//   node peertool.mjs assertion KEY.pem ALG KID CLIENT_ID AUDIENCE
//                                          prints a client assertion (RFC 7523)
//   node peertool.mjs get NAME             prints member NAME of the JSON on stdin
//   node peertool.mjs query URL NAME       prints query parameter NAME of URL
//   node peertool.mjs jwt-part N           prints part N (0 header, 1 payload)
//                                          of the JWT on stdin, as JSON
//   node peertool.mjs pkce                 prints "VERIFIER CHALLENGE" (S256)
//   node peertool.mjs pem JWKS_URL KID     prints the public key KID as PEM
//   node peertool.mjs freeport             prints a free loopback port

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const stdin = () => fs.readFileSync(0, 'utf8').trim();

const commands = {
  config(dir, port) {
    fs.mkdirSync(dir, { recursive: true });
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    fs.writeFileSync(path.join(dir, 'client-rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'client-ec.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pub = (k, kid) => ({ ...k.publicKey.export({ format: 'jwk' }), kid, use: 'sig' });
    const grants = ['client_credentials', 'authorization_code', 'refresh_token',
      'urn:ietf:params:oauth:grant-type:device_code'];
    const web = ['http://127.0.0.1:18081/callback'];
    const config = {
      issuer: `http://127.0.0.1:${port}`,
      defaultResource: 'imap://127.0.0.1',
      defaultUser: 'alice@example.test',
      users: [
        { sub: 'u-alice', email: 'alice@example.test' },
        { sub: 'u-bob', email: 'bob@example.test' },
      ],
      resources: {
        'imap://127.0.0.1': { scope: 'mail other' },
        'smtp://127.0.0.1': { scope: 'mail other' },
        'urn:mailoauth:jwt:rs256': { scope: 'mail other', format: 'jwt', alg: 'RS256', typ: 'JWT' },
        'urn:mailoauth:jwt:ps256': { scope: 'mail other', format: 'jwt', alg: 'PS256', typ: 'JWT' },
        'urn:mailoauth:jwt:es256': { scope: 'mail other', format: 'jwt', alg: 'ES256', typ: 'JWT' },
        'urn:mailoauth:jwt:hs256': {
          scope: 'mail other', format: 'jwt', alg: 'HS256', typ: 'JWT',
          secret: crypto.randomBytes(32).toString('base64'),
        },
        'urn:mailoauth:jwt:rfc9068': { scope: 'mail other', format: 'jwt', alg: 'RS256' },
      },
      ttl: { AccessToken: 3600, ClientCredentials: 3600, RefreshToken: 86400, DeviceCode: 600 },
      deviceFlow: { interval: 1 },
      rotateRefreshToken: true,
      clients: [
        { client_id: 'mo-basic', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic',
          grant_types: grants, redirect_uris: web, mailbox: 'svc-basic@example.test' },
        { client_id: 'mo-post', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post',
          grant_types: grants, redirect_uris: web, mailbox: 'svc-post@example.test' },
        { client_id: 'mo-jwt', token_endpoint_auth_method: 'private_key_jwt',
          jwks: { keys: [pub(rsa, 'c-rsa'), pub(ec, 'c-ec')] },
          grant_types: grants, redirect_uris: web, mailbox: 'svc-jwt@example.test' },
        { client_id: 'mo-public', token_endpoint_auth_method: 'none', application_type: 'native',
          grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
          redirect_uris: ['http://127.0.0.1/callback'] },
        { client_id: 'mo-short', client_secret: 'short-secret', token_endpoint_auth_method: 'client_secret_basic',
          grant_types: grants, redirect_uris: web, mailbox: 'svc-short@example.test',
          ttl: { AccessToken: 2, ClientCredentials: 2, DeviceCode: 2 } },
        { client_id: 'mo-dovecot', client_secret: 'dovecot-secret', token_endpoint_auth_method: 'client_secret_post',
          grant_types: [], response_types: [], redirect_uris: [], introspect: true },
      ],
    };
    fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  },

  assertion(keyFile, alg, kid, clientId, audience) {
    const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg, kid, typ: 'JWT' }));
    const payload = b64url(JSON.stringify({
      iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 60, jti: crypto.randomUUID(),
    }));
    const data = Buffer.from(`${header}.${payload}`);
    const opts = {
      RS256: { key },
      PS256: { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      ES256: { key, dsaEncoding: 'ieee-p1363' },
    }[alg];
    if (!opts) throw new Error(`unsupported alg ${alg}`);
    console.log(`${header}.${payload}.${b64url(crypto.sign('sha256', data, opts))}`);
  },

  get(name) {
    const v = JSON.parse(stdin())[name];
    console.log(typeof v === 'object' ? JSON.stringify(v) : (v ?? ''));
  },

  query(url, name) {
    console.log(new URL(url).searchParams.get(name) ?? '');
  },

  'jwt-part'(n) {
    console.log(Buffer.from(stdin().split('.')[Number(n)], 'base64url').toString());
  },

  pkce() {
    const verifier = b64url(crypto.randomBytes(32));
    console.log(verifier, b64url(crypto.createHash('sha256').update(verifier).digest()));
  },

  async pem(jwksUrl, kid) {
    const { keys } = await (await fetch(jwksUrl)).json();
    const jwk = keys.find((k) => k.kid === kid);
    if (!jwk) throw new Error(`no key ${kid} at ${jwksUrl}`);
    process.stdout.write(crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }));
  },

  async freeport() {
    const net = await import('node:net');
    const srv = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    console.log(srv.address().port);
    srv.close();
  },
};

const [cmd, ...args] = process.argv.slice(2);
if (!commands[cmd]) {
  console.error(`usage: node peertool.mjs ${Object.keys(commands).join('|')} ...`);
  process.exit(2);
}
await commands[cmd](...args);
