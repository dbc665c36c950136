// oidc-provider on loopback as an OpenID peer for mailoauth's interop suite.
//
//   node server.mjs CONFIG.json [PORT]     (or OIDCPEER_PORT=PORT)
//
// Plain HTTP on 127.0.0.1 only. README.md describes the configuration file
// (peertool.mjs config writes a sample). When the server listens it prints
// one JSON line to stdout:
//   {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
// Besides oidc-provider's own endpoints it serves:
//   GET  /interaction/:uid          headless login + consent (no HTML, no form)
//   POST /test/approve-device       {"user_code","user"[,"deny":true]}
//   POST /test/revoke-grants        {"user"[,"client_id"]} or {"client_id"}
//   GET  /test/health
//   GET  /.well-known/oauth-authorization-server   (RFC 8414, same document)

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

import { Store } from './store.mjs';

const [configPath, portArg] = process.argv.slice(2);
if (!configPath) {
  console.error('usage: node server.mjs CONFIG.json [PORT]');
  process.exit(2);
}
const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const port = Number(portArg ?? process.env.OIDCPEER_PORT ?? cfg.port ?? 0);

// Users: sub -> { sub, email }. The email is the mailbox name the mail
// servers compare with the SASL user.
const users = new Map();
for (const u of cfg.users ?? []) {
  const email = u.email.toLowerCase();
  users.set(u.sub ?? email, { sub: u.sub ?? email, email });
}
const userFor = (name) => {
  if (!name) return undefined;
  const n = String(name).toLowerCase();
  return users.get(name) ?? [...users.values()].find((u) => u.email === n);
};

// Peer-only client fields are kept here, the rest goes to oidc-provider as
// client metadata: mailbox (the mailbox a client_credentials token names),
// introspect (may introspect other clients' tokens), ttl (per-client
// lifetimes, seconds, keyed like oidc-provider's ttl: AccessToken, ...).
const peerClients = new Map();
const clients = (cfg.clients ?? []).map(({ mailbox, introspect, ttl, ...metadata }) => {
  peerClients.set(metadata.client_id, { mailbox: mailbox?.toLowerCase(), introspect: !!introspect, ttl: ttl ?? {} });
  return metadata;
});

// Resource servers, keyed by resource indicator (RFC 8707).
const resources = cfg.resources ?? {};

const OIDC_SCOPES = ['openid', 'offline_access', 'email'];

function signingKeys() {
  if (cfg.jwks?.keys?.length) return cfg.jwks;
  // No keys configured: an RSA key (RS256 and PS256) and a P-256 key (ES256).
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return { keys: [{ ...rsa, kid: 'rsa1', use: 'sig' }, { ...ec, kid: 'ec1', use: 'sig' }] };
}

function ttl(kind, fallback) {
  return (ctx, token, client) => {
    const id = client?.clientId ?? token?.clientId;
    return peerClients.get(id)?.ttl[kind]
      ?? (kind === 'AccessToken' || kind === 'ClientCredentials' ? token?.resourceServer?.accessTokenTTL : undefined)
      ?? cfg.ttl?.[kind]
      ?? fallback;
  };
}

// oidc-provider's prompts (login, consent) unchanged: every authorization
// request starts without a session (see provider.use below), so login_hint
// always picks the user.
const policy = interactionPolicy.base();

const store = new Store();

function configuration() {
  return {
    adapter: store.adapter(),
    clients,
    jwks: signingKeys(),
    cookies: { keys: cfg.cookieKeys ?? [crypto.randomBytes(32).toString('base64url')] },
    scopes: OIDC_SCOPES,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    async findAccount(ctx, sub) {
      const u = users.get(sub);
      if (!u) return undefined;
      return { accountId: u.sub, claims: async () => ({ sub: u.sub, email: u.email, email_verified: true }) };
    },
    // The mailbox goes into every access token (JWT payload and
    // introspection answer) as email and username: the user's address for
    // delegated grants, the client's "mailbox" for client_credentials.
    async extraTokenClaims(ctx, token) {
      const mailbox = token.accountId
        ? users.get(token.accountId)?.email
        : peerClients.get(token.clientId)?.mailbox;
      return mailbox ? { email: mailbox, username: mailbox } : undefined;
    },
    formats: {
      customizers: {
        // Dovecot 2.3's local JWT validation wants typ "JWT", not RFC 9068's
        // "at+jwt": a resource server may ask for another typ.
        async jwt(ctx, token, jwt) {
          const typ = token.resourceServer && resources[token.resourceServer.identifier()]?.typ;
          if (typ) jwt.header = { ...jwt.header, typ };
        },
      },
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      deviceFlow: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect its own tokens; "introspect": true clients
        // (resource servers such as Dovecot) any token.
        async allowedPolicy(ctx, client, token) {
          return client.clientId === token.clientId || !!peerClients.get(client.clientId)?.introspect;
        },
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          return oneOf ?? cfg.defaultResource;
        },
        // Tokens from a code, device code or refresh token are for the
        // resource of the grant even when openid was asked for too.
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(ctx, indicator) {
          const rs = resources[indicator];
          if (!rs) throw new errors.InvalidTarget();
          const info = { scope: rs.scope ?? 'mail', audience: rs.audience ?? indicator };
          if (rs.accessTokenTTL) info.accessTokenTTL = rs.accessTokenTTL;
          if (rs.format === 'jwt') {
            info.accessTokenFormat = 'jwt';
            const alg = rs.alg ?? 'RS256';
            info.jwt = {
              sign: alg.startsWith('HS')
                ? { alg, key: Buffer.from(rs.secret, 'base64') }
                : { alg, ...(rs.kid ? { kid: rs.kid } : {}) },
            };
          } else {
            info.accessTokenFormat = 'opaque';
          }
          return info;
        },
      },
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    rotateRefreshToken: cfg.rotateRefreshToken ?? true,
    interactions: { policy, url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: ttl('AccessToken', 3600),
      ClientCredentials: ttl('ClientCredentials', 3600),
      AuthorizationCode: ttl('AuthorizationCode', 60),
      DeviceCode: ttl('DeviceCode', 600),
      RefreshToken: ttl('RefreshToken', 14 * 24 * 3600),
      IdToken: ttl('IdToken', 3600),
      Grant: ttl('Grant', 14 * 24 * 3600),
      Session: ttl('Session', 24 * 3600),
      Interaction: ttl('Interaction', 600),
    },
    clientBasedCORS: () => false,
    // Error pages as JSON, for HTTP clients rather than browsers.
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

const url = new URL(cfg.issuer ?? 'http://127.0.0.1');
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = cfg.issuer ?? `http://127.0.0.1:${actualPort}`;
if (cfg.issuer && Number(url.port || 80) !== actualPort) {
  console.error(`warning: issuer ${issuer} does not name the port listened on (${actualPort})`);
}

const provider = new Provider(issuer, configuration());
const interval = cfg.deviceFlow?.interval ?? 5;
const lastPoll = new Map(); // device_code -> ms of the last poll (or of its issuance)

provider.use(async (ctx, next) => {
  // No single sign-on: an authorization request never sees an earlier
  // session and the old session cookie is dropped from the client, so each
  // request logs in the user it names. (A cookie jar shared by flows for
  // different users would otherwise get the first user's code, or be sent
  // to oidc-provider's logout form when the user changes.)
  const fresh = ctx.path === '/auth';
  if (fresh) delete ctx.req.headers.cookie;
  await next();
  if (fresh && ![].concat(ctx.response.get('set-cookie') || []).some((c) => c.startsWith('_session='))) {
    ctx.cookies.set('_session', null, { httpOnly: true, sameSite: 'lax' });
  }

  // RFC 8628 polling interval and slow_down: oidc-provider announces no
  // interval and never answers slow_down, so the peer adds both.
  const route = ctx.oidc?.route;
  if (route === 'device_authorization' && ctx.body?.device_code) {
    ctx.body.interval = interval;
    lastPoll.set(ctx.body.device_code, Date.now());
  } else if (route === 'token' && ctx.body?.error === 'authorization_pending') {
    const code = ctx.oidc.params?.device_code;
    const last = lastPoll.get(code);
    lastPoll.set(code, Date.now());
    if (last !== undefined && Date.now() - last < interval * 1000) {
      ctx.body = { error: 'slow_down', error_description: `poll at most every ${interval}s` };
    }
  }
});

// oidc-provider keeps the reason of an error (error_detail) out of its
// answers; the peer's log shows it.
for (const ev of ['authorization', 'grant', 'introspection', 'revocation', 'device_authorization', 'userinfo', 'end_session']) {
  provider.on(`${ev}.error`, (ctx, err) => {
    console.error(`${ev}.error: ${err.error ?? err.name}: ${err.error_description ?? err.message}${err.error_detail ? ` (${err.error_detail})` : ''}`);
  });
}
provider.on('server_error', (ctx, err) => console.error(`server_error: ${err.stack ?? err}`));

const providerCallback = provider.callback();

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  if ((req.headers['content-type'] ?? '').startsWith('application/json')) return JSON.parse(text);
  return Object.fromEntries(new URLSearchParams(text));
}

// Headless interaction: logs in the user named by login_hint (or the
// configured defaultUser) and grants every scope and resource asked for.
// An unknown login_hint ends the request with access_denied.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const hint = params.login_hint ?? cfg.defaultUser;
    const u = userFor(hint);
    if (!u) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: `no such user: ${hint ?? '(no login_hint and no defaultUser)'}`,
      }, { mergeWithLastSubmission: false });
    }
    return provider.interactionFinished(req, res, { login: { accountId: u.sub } }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  send(res, 400, { error: 'unsupported_prompt', prompt: prompt.name });
}

// Approves (or denies) a pending device authorization the way the device
// UI would after login and consent.
async function approveDevice({ user_code: userCode, user, deny }) {
  if (!userCode) return [400, { error: 'user_code is required' }];
  const normalized = String(userCode).toUpperCase().replace(/\W/g, '');
  const code = await provider.DeviceCode.findByUserCode(normalized, { ignoreExpiration: true });
  if (!code) return [404, { error: 'no such user_code' }];
  if (code.isExpired) return [409, { error: 'user_code expired' }];
  if (code.accountId || code.error) return [409, { error: 'user_code already used' }];
  if (deny === true || deny === 'true') {
    Object.assign(code, { error: 'access_denied', errorDescription: 'the user denied the request' });
    await code.save();
    return [200, { denied: true }];
  }
  const u = userFor(user ?? cfg.defaultUser);
  if (!u) return [404, { error: `no such user: ${user}` }];
  const client = await provider.Client.find(code.clientId);
  const requested = (code.params.scope ?? '').split(' ').filter(Boolean);
  const resource = [].concat(code.params.resource ?? cfg.defaultResource ?? []);
  if (resource.length > 1) return [400, { error: 'the peer approves device codes for one resource only' }];
  const oidcScopes = requested.filter((s) => OIDC_SCOPES.includes(s)
    && (s !== 'offline_access' || client.grantTypeAllowed('refresh_token')));
  const grant = new provider.Grant({ accountId: u.sub, clientId: code.clientId });
  if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
  let rsScopes = [];
  if (resource.length) {
    const available = new Set((resources[resource[0]]?.scope ?? '').split(' '));
    rsScopes = requested.filter((s) => available.has(s));
    grant.addResourceScope(resource[0], rsScopes.join(' '));
  }
  Object.assign(code, {
    accountId: u.sub,
    grantId: await grant.save(),
    authTime: Math.floor(Date.now() / 1000),
    scope: [...new Set([...oidcScopes, ...rsScopes])].join(' '),
    resource: resource[0],
  });
  await code.save();
  return [200, { approved: true, user: u.email, scope: code.scope, resource: resource[0] }];
}

// Revokes grants (with all their tokens) of a user, of a client, or of a
// user at one client; with only client_id also its client_credentials tokens.
async function revokeGrants({ user, client_id: clientId }) {
  let accountId;
  if (user !== undefined) {
    const u = userFor(user);
    if (!u) return [404, { error: `no such user: ${user}` }];
    accountId = u.sub;
  } else if (clientId === undefined) {
    return [400, { error: 'user or client_id is required' }];
  }
  const grants = store.grants({ accountId, clientId });
  for (const g of grants) {
    await provider.AccessToken.revokeByGrantId(g.id); // every token of the grant
    await provider.Grant.adapter.destroy(g.id);
  }
  let clientCredentials = 0;
  if (user === undefined) {
    const keys = store.clientCredentials(clientId);
    store.deleteKeys(keys);
    clientCredentials = keys.length;
  }
  return [200, { grants: grants.length, clientCredentials }];
}

async function handle(req, res) {
  const path = req.url.split('?')[0];
  if (path.startsWith('/interaction/')) return interaction(req, res);
  if (path.startsWith('/test/')) {
    const routes = { '/test/approve-device': approveDevice, '/test/revoke-grants': revokeGrants };
    if (path === '/test/health') return send(res, 200, { ok: true, issuer });
    if (!routes[path] || req.method !== 'POST') return send(res, 404, { error: 'not found' });
    const [status, body] = await routes[path](await readBody(req));
    return send(res, status, body);
  }
  if (path === '/.well-known/oauth-authorization-server') {
    req.url = '/.well-known/openid-configuration';
  }
  return providerCallback(req, res);
}

server.on('request', (req, res) => {
  handle(req, res).catch((err) => {
    console.error(`${req.method} ${req.url}: ${err.stack ?? err}`);
    if (!res.headersSent) send(res, err.statusCode ?? 500, { error: err.error ?? 'server_error', error_description: err.error_description ?? err.message });
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)).closeAllConnections());
}

console.log(JSON.stringify({ ready: true, issuer, port: actualPort }));
