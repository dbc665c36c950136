// An in-memory oidc-provider adapter for the test peer. oidc-provider's own
// development adapter is an LRU cache of 1000 entries, so a long test run
// would silently lose old grants and refresh tokens; this one keeps every
// entry until it has been expired for GRACE seconds (so that an expired
// device code still reads as expired_token and not as unknown), and it can
// list grants by account for the peer's admin endpoints.

const GRACE = 300; // seconds an expired entry is still found

const now = () => Math.floor(Date.now() / 1000);

export class Store {
  entries = new Map(); // "Model:id" -> { payload, until }
  byGrant = new Map(); // grantId -> Set of "Model:id"
  byUserCode = new Map(); // userCode -> id
  byUid = new Map(); // session uid -> id

  constructor() {
    setInterval(() => this.sweep(), 60_000).unref();
  }

  adapter() {
    return (model) => new Adapter(this, model);
  }

  get(key) {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until !== undefined && e.until <= now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.payload;
  }

  sweep() {
    for (const key of this.entries.keys()) this.get(key);
  }

  // Grants (payloads with their ids) matching accountId and/or clientId.
  grants({ accountId, clientId }) {
    const out = [];
    for (const [key] of this.entries) {
      if (!key.startsWith('Grant:')) continue;
      const p = this.get(key);
      if (!p) continue;
      if (accountId !== undefined && p.accountId !== accountId) continue;
      if (clientId !== undefined && p.clientId !== clientId) continue;
      out.push({ id: key.slice('Grant:'.length), ...p });
    }
    return out;
  }

  // Client-credentials tokens of clientId, as "ClientCredentials:id" keys.
  clientCredentials(clientId) {
    const out = [];
    for (const [key] of this.entries) {
      if (key.startsWith('ClientCredentials:') && this.get(key)?.clientId === clientId) out.push(key);
    }
    return out;
  }

  deleteKeys(keys) {
    for (const key of keys) this.entries.delete(key);
  }
}

class Adapter {
  constructor(store, model) {
    this.store = store;
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const until = typeof expiresIn === 'number' ? now() + expiresIn + GRACE : undefined;
    this.store.entries.set(this.key(id), { payload, until });
    if (payload.grantId) {
      let keys = this.store.byGrant.get(payload.grantId);
      if (!keys) this.store.byGrant.set(payload.grantId, (keys = new Set()));
      keys.add(this.key(id));
    }
    if (payload.userCode) this.store.byUserCode.set(payload.userCode, id);
    if (this.model === 'Session' && payload.uid) this.store.byUid.set(payload.uid, id);
  }

  async find(id) {
    return this.store.get(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = this.store.byUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = this.store.byUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const p = this.store.get(this.key(id));
    if (p) p.consumed = now();
  }

  async destroy(id) {
    this.store.entries.delete(this.key(id));
  }

  // Removes every token of the grant, whatever its model: oidc-provider
  // calls this once per model and the grant id is shared by all of them.
  async revokeByGrantId(grantId) {
    const keys = this.store.byGrant.get(grantId);
    if (!keys) return;
    this.store.deleteKeys(keys);
    this.store.byGrant.delete(grantId);
  }
}
