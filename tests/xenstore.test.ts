// The xenstore daemon (host/devices/xenstore): database operations, permissions, watches,
// transactions, quotas, malformed input, the shared-ring transport and the xl-style domain nodes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  encode, populateDomain, RING, XenStore, XS, XsRing, XENSTORE_ERROR_PROTO, XENSTORE_ERROR_RINGIDX,
  XENSTORE_RECONNECT, SERVER_FEATURES, isChild,
} from "../host/devices/xenstore";
import { Client, GuestSide } from "./lib/xsclient";

function setup(quota = {}) {
  const xs = new XenStore({ quota });
  for (const d of [1, 2]) { populateDomain(xs, d, `guest${d}`); xs.introduce(d); }
  return { xs, d0: new Client(xs, 0), d1: new Client(xs, 1), d2: new Client(xs, 2) };
}

// ---------------------------------------------------------------- database operations

test("write, read, directory, mkdir, rm", () => {
  const { d0 } = setup();
  assert.is(d0.write("/a/b/c", "hello"), "OK\0");
  assert.is(d0.read("/a/b/c"), "hello");
  assert.is(d0.read("/a/b"), "", "parents are created empty");
  assert.is(d0.dir("/a"), "b\0");
  assert.is(d0.write("/a/b/d", ""), "OK\0");
  assert.is(d0.dir("/a/b"), "c\0d\0");
  assert.is(d0.write("/a/b/c", "bye"), "OK\0");
  assert.is(d0.read("/a/b/c"), "bye");
  assert.is(d0.mkdir("/a/b/c"), "OK\0");
  assert.is(d0.read("/a/b/c"), "bye", "MKDIR leaves an existing value alone");
  assert.is(d0.mkdir("/m/n"), "OK\0");
  assert.is(d0.read("/m/n"), "");
  assert.is(d0.read("/nope"), "ERR:ENOENT");
  assert.is(d0.rm("/a/b/zz"), "OK\0", "RM of a missing node whose parent exists is fine");
  assert.is(d0.rm("/a/q/zz"), "ERR:ENOENT", "...but not if the parent is missing too");
  assert.is(d0.rm("/a/b"), "OK\0");
  assert.is(d0.read("/a/b/c"), "ERR:ENOENT");
  assert.is(d0.dir("/a"), "");
  assert.is(d0.rm("/"), "ERR:EINVAL");
  // Binary values (with NULs) survive.
  assert.is(d0.write("/bin", "x\0y\0"), "OK\0");
  assert.is(d0.read("/bin"), "x\0y\0");
});

test("path syntax", () => {
  const { d0, d1 } = setup();
  for (const bad of ["/a/", "/a//b", "", "/a b", "/a.b", "/a\u00e9", "@foo"]) {
    assert.is(d0.write(bad, "x"), "ERR:EINVAL", JSON.stringify(bad));
  }
  assert.is(d0.write("/" + "a".repeat(3072), "x"), "ERR:EINVAL", "longer than XENSTORE_ABS_PATH_MAX");
  assert.is(d1.write("data/" + "a".repeat(2100), "x"), "ERR:EINVAL", "relative part longer than 2048");
  assert.is(d0.write("/ok-_@/A9", "x"), "OK\0");
  assert.is(d1.write("data/rel", "v"), "OK\0", "relative to /local/domain/1");
  assert.is(d0.read("/local/domain/1/data/rel"), "v");
  assert.is(d0.read("/"), "");
  assert.ok(d0.dir("/").split("\0").includes("local"));
});

test("DIRECTORY_PART pages through a long child list", () => {
  const { d0, xs } = setup();
  const names: string[] = [];
  for (let i = 0; i < 400; i++) { names.push(`child-number-${i}`); xs.write(`/big/child-number-${i}`, ""); }
  assert.is(d0.dir("/big"), "ERR:E2BIG");
  let off = 0;
  const got: string[] = [];
  let gen = "";
  for (let rounds = 0; rounds < 10; rounds++) {
    const body = d0.r(XS.DIRECTORY_PART, `/big\0${off}\0`);
    assert.ok(!body.startsWith("ERR"), body);
    assert.ok(body.length <= 4096);
    const parts = body.split("\0");
    if (gen) assert.is(parts[0], gen, "generation is stable");
    gen = parts[0];
    const kids = parts.slice(1, -1);
    const done = body.endsWith("\0\0");
    for (const k of kids) if (k) got.push(k);
    off += kids.filter((k) => k).reduce((s, k) => s + k.length + 1, 0);
    if (done) break;
  }
  assert.equal(got, names);
});

// ---------------------------------------------------------------- permissions

test("permissions: domains, owners, dom0", () => {
  const { d0, d1, d2 } = setup();
  assert.is(d1.read("name"), "guest1", "a domain reads its own home");
  assert.is(d1.read("/local/domain/2/name"), "ERR:EACCES", "not another domain's");
  assert.is(d1.read("/local/domain/2/nonexistent"), "ERR:EACCES", "and learns nothing about what is there");
  assert.is(d1.read("/local/domain/1/nonexistent"), "ERR:ENOENT");
  assert.is(d1.write("name", "evil"), "ERR:EACCES", "read-only node");
  assert.is(d1.write("newnode", "x"), "ERR:EACCES", "home dir is read-only for the domain");
  assert.is(d1.write("data/x", "1"), "OK\0", "data/ is the domain's");
  assert.is(d1.getPerms("data/x"), "n1\0", "a node a domain creates is its own");
  assert.is(d2.read("/local/domain/1/data/x"), "ERR:EACCES");
  assert.is(d0.read("/local/domain/1/data/x"), "1", "dom0 reads everything");
  assert.is(d0.write("/local/domain/1/data/x", "2"), "OK\0", "and writes everything");
  assert.is(d1.read("/"), "ERR:EACCES");
  // SET_PERMS: by the owner, who may not give the node away.
  assert.is(d1.setPerms("data/x", "n1", "r2"), "OK\0");
  assert.is(d2.read("/local/domain/1/data/x"), "2", "r2 lets domain 2 read");
  assert.is(d2.write("/local/domain/1/data/x", "z"), "ERR:EACCES", "but not write");
  assert.is(d1.setPerms("data/x", "b1", "w2"), "OK\0");
  assert.is(d2.write("/local/domain/1/data/x", "z"), "OK\0", "w2 lets domain 2 write");
  assert.is(d2.read("/local/domain/1/data/x"), "ERR:EACCES", "but not read");
  assert.is(d2.setPerms("/local/domain/1/data/x", "b2"), "ERR:EACCES", "only the owner sets perms");
  assert.is(d1.setPerms("data/x", "n2"), "ERR:EPERM", "a domain cannot change the owner");
  assert.is(d1.setPerms("name", "b1"), "ERR:EACCES", "nor set perms on dom0's nodes");
  assert.is(d1.setPerms("data/x", "x1"), "ERR:EINVAL");
  assert.is(d0.setPerms("/local/domain/1/data/x", "r2", "n1"), "OK\0", "dom0 can change the owner");
  assert.is(d0.getPerms("/local/domain/1/data/x"), "r2\0n1\0");
  assert.is(d1.read("data/x"), "ERR:EACCES", "explicit n1 entry");
  assert.is(d2.read("/local/domain/1/data/x"), "z", "owner reads");
  // The owner's letter is the default for unlisted domains.
  assert.is(d0.write("/pub", "p"), "OK\0");
  assert.is(d0.setPerms("/pub", "r0"), "OK\0");
  assert.is(d2.read("/pub"), "p");
  assert.is(d2.write("/pub", "q"), "ERR:EACCES");
  assert.is(d0.getPerms("@releaseDomain"), "n0\0r32757\0");
});

// Releasing a domain visits the nodes whose permissions name it (the live tree keeps that index,
// so a release costs what names the domain, not the whole store): after writes, SET_PERMS, removals
// and transactions the index equals a scan of the tree, and release rewrites exactly those nodes.
test("release: the nodes naming a domain pass to dom0 or lose its entries; the tree's index of names equals a scan",
  () => {
  const { xs, d0, d1, d2 } = setup();
  const scan = (d: number) =>
    [...xs.tree.nodes].filter(([, n]) => n.perms.some((x) => x.domid === d)).map(([p]) => p).sort();
  const same = (what: string) => {
    for (const d of [0, 1, 2, 3]) assert.equal(xs.tree.naming(d).sort(), scan(d), `${what}: domain ${d}`);
  };
  same("start");
  assert.is(d1.write("data/a", "1"), "OK\0");
  assert.is(d1.write("data/b", "2"), "OK\0");
  assert.is(d1.setPerms("data/b", "n1", "r2", "w3"), "OK\0");
  assert.is(d0.write("/shared", ""), "OK\0");
  assert.is(d0.setPerms("/shared", "n0", "b1", "r2"), "OK\0");
  assert.is(d0.write("/shared/x/y", "z"), "OK\0");
  same("after writes and SET_PERMS");
  const tx = d1.txStart();
  assert.is(d1.write("data/c", "3", tx), "OK\0");
  assert.is(d1.rm("data/a", tx), "OK\0");
  assert.is(d1.txEnd(tx, true), "OK\0");
  const tx2 = d2.txStart();
  assert.is(d2.write("data/gone", "x", tx2), "OK\0");
  assert.is(d2.txEnd(tx2, false), "OK\0");
  same("after transactions");
  assert.is(d0.rm("/shared/x"), "OK\0");
  same("after a removal");
  const named = scan(1);
  assert.ok(named.length >= 5, named.join(" "));
  xs.release(1);
  same("after the release");
  assert.equal(scan(1), [], "no node names domain 1 any more");
  assert.is(d0.getPerms("/local/domain/1/data/b"), "n0\0r2\0w3\0", "its node passed to dom0, the others' entries kept");
  assert.is(d0.getPerms("/shared"), "n0\0r2\0", "its entry dropped from dom0's node");
  assert.ok(scan(2).includes("/local/domain/1/data/b") && scan(2).includes("/shared"));
});

test("children inherit the parent's perms; a domain's new nodes are its own", () => {
  const { d0, d1 } = setup();
  assert.is(d0.write("/shared", ""), "OK\0");
  assert.is(d0.setPerms("/shared", "n0", "b1"), "OK\0");
  assert.is(d0.write("/shared/a/b", "x"), "OK\0");
  assert.is(d0.getPerms("/shared/a/b"), "n0\0b1\0", "dom0-created: inherited as is");
  assert.is(d1.write("/shared/c/d", "y"), "OK\0");
  assert.is(d0.getPerms("/shared/c"), "n1\0b1\0", "domain-created: owner replaced");
  assert.is(d0.getPerms("/shared/c/d"), "n1\0b1\0");
});

// ---------------------------------------------------------------- watches

test("watches: initial event, changes below, tokens, unwatch", () => {
  const { d0, xs } = setup();
  assert.is(d0.watch("/w", "tok1"), "OK\0");
  assert.equal(d0.events(), ["/w|tok1"], "fires once on registration, even if the node is missing");
  assert.is(d0.watch("/w", "tok1"), "ERR:EEXIST");
  assert.is(d0.watch("/w", "tok2"), "OK\0");
  d0.events();
  xs.write("/w/x/y", "1");
  assert.equal(d0.events().sort(), ["/w/x/y|tok1", "/w/x/y|tok2"]);
  xs.write("/wother", "1");
  assert.equal(d0.events(), [], "/wother is not below /w");
  xs.write("/w", "v");
  assert.equal(d0.events().length, 2);
  assert.is(d0.unwatch("/w", "tok2"), "OK\0");
  assert.is(d0.unwatch("/w", "tok2"), "ERR:ENOENT");
  xs.rm("/w");
  assert.equal(d0.events(), ["/w|tok1"]);
  assert.is(d0.r(XS.WATCH, "/w\0"), "ERR:EINVAL", "token missing");
});

test("watches: removal fires exact watches below, depth, reset", () => {
  const { d0, xs } = setup();
  xs.write("/r/a/b", "1");
  d0.watch("/r/a/b", "deep");
  d0.watch("/r/a/zz", "missing");
  d0.r(XS.WATCH, "/r\0shallow\0" + "0\0");
  d0.events();
  xs.write("/r/a/b", "2");
  assert.equal(d0.events(), ["/r/a/b|deep"], "depth 0 watch ignores changes below");
  xs.rm("/r/a");
  assert.equal(d0.events().sort(), ["/r/a/b|deep"].sort(), "removal: watches on removed descendants fire");
  assert.is(d0.r(XS.RESET_WATCHES, "\0"), "OK\0");
  xs.write("/r/a/b", "3");
  assert.equal(d0.events(), []);
  assert.ok(
    isChild("/a/b", "/", 1) === false && isChild("/a", "/", 1) && isChild("/a/b", "/a", 1) && !isChild("/ab", "/a")
  );
});

test("watches: relative paths, permissions, domain events", () => {
  const { d0, d1, d2, xs } = setup();
  assert.is(d1.watch("data", "rel"), "OK\0");
  assert.equal(d1.events(), ["data|rel"], "relative watch: relative initial event");
  d1.write("data/k", "v");
  assert.equal(d1.events(), ["data/k|rel"], "and relative event paths");
  // A domain does not hear about nodes it cannot read.
  assert.is(d2.watch("/local/domain/1/data", "spy"), "OK\0");
  d2.events();
  d1.write("data/secret", "s");
  assert.equal(d2.events(), [], "no event for an unreadable node");
  d1.setPerms("data/secret", "n1", "r2");
  assert.equal(d2.events(), ["/local/domain/1/data/secret|spy"], "readable now");
  // @introduceDomain is dom0's; @releaseDomain is readable by all.
  assert.is(d0.watch("@introduceDomain", "intro"), "OK\0");
  assert.is(d0.watch("@releaseDomain", "rel"), "OK\0");
  assert.is(d2.watch("@introduceDomain", "intro"), "OK\0");
  assert.is(d2.watch("@releaseDomain", "rel"), "OK\0");
  d0.events(); d2.events();
  populateDomain(xs, 3, "three");
  d0.events(); d2.events();
  xs.introduce(3);
  assert.equal(d0.events(), ["@introduceDomain|intro"]);
  assert.equal(d2.events(), [], "@introduceDomain is dom0-only");
  xs.introduce(3);
  assert.equal(d0.events(), [], "only once per domain");
  d1.events();
  xs.release(1);
  assert.equal(d0.events(), ["@releaseDomain|rel"]);
  assert.equal(d2.events(), ["@releaseDomain|rel"]);
  assert.equal(d1.events(), [], "the released domain's watches are gone");
  assert.ok(d1.conn.closed);
  assert.is(d0.getPerms("/local/domain/1/data/secret"), "n0\0r2\0", "its nodes pass to dom0");
  assert.is(d0.r(XS.IS_DOMAIN_INTRODUCED, "1\0"), "F\0");
  assert.is(d0.r(XS.IS_DOMAIN_INTRODUCED, "2\0"), "T\0");
  // @releaseDomain/<domid> (watch depth) via XS_RELEASE.
  assert.is(d0.watch("@releaseDomain/2", "two"), "OK\0");
  d0.events();
  assert.is(d0.r(XS.RELEASE, "2\0"), "OK\0");
  assert.equal(d0.events().sort(), ["@releaseDomain/2|two", "@releaseDomain|rel"]);
  assert.is(d0.r(XS.RELEASE, "2\0"), "ERR:ENOENT");
  assert.is(d0.r(XS.RELEASE, "0\0"), "ERR:EINVAL");
});

// ---------------------------------------------------------------- transactions

test("transactions: isolation, commit, abort, conflict", () => {
  const { d0, d1, xs } = setup();
  d1.write("data/a", "1");
  d0.watch("/local/domain/1/data", "w");
  d0.events();
  const t = d1.txStart();
  assert.ok(t > 0);
  assert.is(d1.write("data/a", "2", t), "OK\0");
  assert.is(d1.write("data/b", "new", t), "OK\0");
  assert.is(d1.read("data/a", t), "2", "the transaction sees its writes");
  assert.is(d1.read("data/a"), "1", "nobody else does");
  assert.is(d1.read("data/b"), "ERR:ENOENT");
  assert.equal(d0.events(), [], "watches wait for the commit");
  assert.is(d1.txEnd(t, true), "OK\0");
  assert.is(d1.read("data/a"), "2");
  assert.is(d1.read("data/b"), "new");
  assert.equal(d0.events().sort(), ["/local/domain/1/data/a|w", "/local/domain/1/data/b|w"]);
  assert.is(d1.txEnd(t, true), "ERR:ENOENT", "the id is gone");

  const t2 = d1.txStart();
  d1.write("data/a", "aborted", t2);
  d1.rm("data/b", t2);
  assert.is(d1.txEnd(t2, false), "OK\0");
  assert.is(d1.read("data/a"), "2");
  assert.is(d1.read("data/b"), "new");

  const t3 = d1.txStart();
  assert.is(d1.read("data/a", t3), "2");
  xs.write("/local/domain/1/data/a", "changed");
  d1.write("data/c", "x", t3);
  assert.is(d1.txEnd(t3, true), "ERR:EAGAIN", "what it read changed meanwhile");
  assert.is(d1.read("data/c"), "ERR:ENOENT", "nothing applied");

  const t4 = d1.txStart();
  d1.read("data/a", t4);
  xs.write("/unrelated", "x");
  assert.is(d1.txEnd(t4, true), "OK\0", "unrelated changes do not conflict");

  // Two transactions creating the same node: the second commit fails.
  const ta = d1.txStart(), tb = d1.txStart();
  assert.is(d1.write("data/race", "a", ta), "OK\0");
  assert.is(d1.write("data/race", "b", tb), "OK\0");
  assert.is(d1.txEnd(ta, true), "OK\0");
  assert.is(d1.txEnd(tb, true), "ERR:EAGAIN");
  assert.is(d1.read("data/race"), "a");
});

test("transactions: errors", () => {
  const { d1 } = setup();
  assert.is(d1.read("name", 999), "ERR:ENOENT", "unknown transaction id");
  assert.is(d1.r(XS.TRANSACTION_END, "T\0"), "ERR:ENOENT", "END outside a transaction");
  const t = d1.txStart();
  assert.is(d1.r(XS.TRANSACTION_START, "\0", t), "ERR:EBUSY", "no nesting");
  assert.is(d1.r(XS.TRANSACTION_END, "X\0", t), "ERR:EINVAL");
  assert.is(d1.r(XS.RESET_WATCHES, "\0"), "OK\0");
  assert.is(d1.txEnd(t, true), "ERR:ENOENT", "RESET_WATCHES drops transactions");
});

// ---------------------------------------------------------------- quotas

test("quotas: nodes, node size, watches, transactions (dom0 exempt)", () => {
  const { d0, d1 } = setup({ nodes: 20, watches: 4, transactions: 3 });
  let err = "";
  for (let i = 0; i < 30 && !err; i++) { const r = d1.write(`data/n${i}`, "x"); if (r !== "OK\0") err = r; }
  assert.is(err, "ERR:ENOSPC", "node quota");
  assert.is(d1.rm("data/n0"), "OK\0");
  assert.is(d1.write("data/again", "x"), "OK\0", "room again after RM");
  assert.is(d1.write("data/again", "y".repeat(2049)), "ERR:ENOSPC", "node size");
  assert.is(d1.write("data/again", "y".repeat(2048)), "OK\0");
  for (let i = 0; i < 4; i++) assert.is(d1.watch(`data/w${i}`, "t"), "OK\0");
  assert.is(d1.watch("data/w9", "t"), "ERR:ENOSPC", "watch quota");
  const ts = [d1.txStart(), d1.txStart(), d1.txStart()];
  assert.ok(ts.every((t) => t > 0));
  assert.is(d1.r(XS.TRANSACTION_START, "\0"), "ERR:ENOSPC", "transaction quota");
  for (let i = 0; i < 40; i++) assert.is(d0.write(`/many/n${i}`, "z".repeat(3000)), "OK\0");
  for (let i = 0; i < 8; i++) assert.is(d0.watch(`/w${i}`, "t"), "OK\0");
  assert.is(d1.setPerms("data/again", "n1", "r2", "r3", "r4", "r5", "r6"), "ERR:ENOSPC", "permission entries");
});

// ---------------------------------------------------------------- malformed input

test("malformed messages: error replies or a broken connection, never a throw", () => {
  const { d0, d1, xs } = setup();
  assert.is(d1.r(XS.READ, "name"), "ERR:EINVAL", "missing NUL");
  assert.is(d1.r(XS.READ, "name\0extra\0"), "ERR:EINVAL", "two strings where one is expected");
  assert.is(d1.r(XS.READ, ""), "ERR:EINVAL", "empty payload");
  assert.is(d1.r(XS.WRITE, "nonul"), "ERR:EINVAL");
  assert.is(d1.r(99, "x\0"), "ERR:ENOSYS", "unknown type");
  assert.is(d1.r(20, "x\0"), "ERR:ENOSYS", "removed XS_RESTRICT");
  assert.is(d1.r(XS.WATCH_EVENT, "a\0b\0"), "ERR:ENOSYS", "server-only type");
  assert.is(d1.r(XS.ERROR, "EINVAL\0"), "ERR:ENOSYS");
  assert.is(d1.r(XS.INTRODUCE, "5\0" + "0\0" + "3\0"), "ERR:EACCES", "privileged operation");
  assert.is(d1.r(XS.CONTROL, "check\0"), "ERR:EACCES");
  assert.is(d1.r(XS.GET_DOMAIN_PATH, "7\0"), "/local/domain/7\0");
  assert.is(d1.r(XS.GET_DOMAIN_PATH, "x\0"), "ERR:EINVAL");
  assert.is(d0.r(XS.INTRODUCE, "5\0"), "ERR:EINVAL");
  assert.is(d0.r(XS.CONTROL, "check\0"), "OK\0");
  assert.is(xs.getDomainPath(4), "/local/domain/4");

  // Framing garbage breaks the connection.
  const bad = (m: Uint8Array) => { const c = new Client(xs, 1); c.conn.handle(m); return c; };
  let c = bad(new Uint8Array(7));
  assert.ok(c.conn.broken, "truncated header");
  assert.equal(c.inbox, []);
  const big = encode(XS.WRITE, 1, 0, "data/x\0" + "y".repeat(5000));
  c = bad(big);
  assert.ok(c.conn.broken, "payload > 4096");
  const lie = encode(XS.READ, 1, 0, "name\0");
  new DataView(lie.buffer).setUint32(12, 100, true);
  c = bad(lie);
  assert.ok(c.conn.broken, "len disagrees with the message");
  c.conn.handle(encode(XS.READ, 2, 0, "name\0"));
  assert.equal(c.inbox, [], "a broken connection is ignored");

  // Random junk: never an exception.
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 3000; i++) {
    const n = Math.floor(rnd() * 40);
    const body = new Uint8Array(n);
    for (let j = 0; j < n; j++) body[j] = rnd() < 0.3 ? 0 : rnd() < 0.5 ? 47 : Math.floor(rnd() * 128);
    const type = Math.floor(rnd() * 30);
    const conn = rnd() < 0.5 ? d0 : d1;
    conn.conn.handle(encode(type, i, rnd() < 0.1 ? Math.floor(rnd() * 3) : 0, body));
    conn.inbox.length = 0;
  }
  assert.ok(!d0.conn.broken && !d1.conn.broken);
  assert.is(d1.read("name"), "guest1");
});

// ---------------------------------------------------------------- the shared ring

function ringSetup() {
  const { xs, d0 } = setup();
  const page = new Uint8Array(4096);
  let notified = 0;
  const ring = new XsRing(page, { onOutput: () => notified++ });
  ring.init();
  const conn = xs.connect(1, ring.send);
  const g = new GuestSide(page);
  return { xs, d0, ring, conn, g, page, notified: () => notified };
}

test("ring: requests and replies, split across the wrap", () => {
  const { ring, conn, g } = ringSetup();
  assert.is(g.u32(RING.SERVER_FEATURES), SERVER_FEATURES);
  assert.is(ring.pump(conn), false, "nothing to do");
  // Move the indexes near the wrap (free-running, well past 2^32 - 1024 too).
  for (const o of [RING.REQ_CONS, RING.REQ_PROD]) g.set(o, 0xfffffff0);
  for (const o of [RING.RSP_CONS, RING.RSP_PROD]) g.set(o, 0xfffffffa);
  const msg = encode(XS.READ, 77, 0, "name\0");
  g.put(msg.subarray(0, 10));
  assert.is(ring.pump(conn), true, "consumed a partial header");
  assert.equal(g.take(), [], "no reply yet");
  g.put(msg.subarray(10));
  assert.is(ring.pump(conn), true);
  const replies = g.take();
  assert.equal(replies, [{ type: XS.READ, reqId: 77, txId: 0, body: "guest1" }]);
  assert.ok(g.u32(RING.REQ_CONS) === g.u32(RING.REQ_PROD) && g.u32(RING.REQ_CONS) < 0x100);
  // Several messages in one go.
  const many =
    [encode(XS.WRITE, 1, 0, "data/a\0A"), encode(XS.READ, 2, 0, "data/a\0"), encode(XS.DIRECTORY, 3, 0, "data\0")];
  for (const m of many) g.put(m);
  ring.pump(conn);
  assert.equal(g.take().map((m) => m.body), ["OK\0", "A", "a\0"]);
});

test("ring: replies wait for room in rsp; watch events from elsewhere", () => {
  const { xs, ring, conn, g, notified } = ringSetup();
  // A 2000-byte value cannot fit in the 1 KiB ring at once.
  xs.write("/local/domain/1/data/big", "B".repeat(2000));
  g.put(encode(XS.READ, 5, 0, "data/big\0"));
  ring.pump(conn);
  assert.is(g.u32(RING.RSP_PROD) - g.u32(RING.RSP_CONS), 1024, "rsp full");
  assert.is(ring.queued, 1);
  assert.is(ring.pump(conn), false, "no room, no progress");
  let got = g.take();
  assert.equal(got, []);
  ring.pump(conn);
  got = g.take();
  assert.is(got.length, 1);
  assert.is(got[0].body, "B".repeat(2000));
  assert.is(ring.queued, 0);
  // Watch events triggered by dom0 go to the ring and ask for a pump.
  g.put(encode(XS.WATCH, 6, 0, "data\0tk\0"));
  ring.pump(conn);
  assert.equal(g.take().map((m) => m.type), [XS.WATCH, XS.WATCH_EVENT]);
  const before = notified();
  xs.write("/local/domain/1/data/z", "1");
  assert.ok(notified() > before, "onOutput called");
  assert.ok(ring.pump(conn));
  assert.equal(g.take().map((m) => m.body), ["data/z\0tk\0"]);
});

test("ring: backpressure stops reading requests while replies pile up", () => {
  const { ring, conn, g, xs } = ringSetup();
  xs.write("/local/domain/1/data/big", "B".repeat(2000));
  for (let i = 0; i < 40; i++) g.put(encode(XS.READ, i, 0, "data/big\0"));
  ring.pump(conn);
  assert.ok(ring.queued <= xs.quota.outstanding, `queued ${ring.queued}`);
  assert.ok(g.u32(RING.REQ_CONS) !== g.u32(RING.REQ_PROD), "requests left unread");
  let n = 0;
  for (let i = 0; i < 500 && n < 40; i++) {
    ring.pump(conn);
    const got = g.take();
    for (const m of got) assert.is(m.reqId, n++, "replies in order");
  }
  assert.is(n, 40, "every request answered in the end");
  assert.ok(!conn.broken);
});

test("ring: hostile indexes and oversized messages break the connection", () => {
  let s = ringSetup();
  s.g.set(RING.REQ_PROD, 5000);
  assert.not.throws(() => s.ring.pump(s.conn));
  assert.ok(s.conn.broken, "req prod - cons > 1024");
  assert.is(s.g.u32(RING.ERROR), XENSTORE_ERROR_RINGIDX);
  assert.is(s.ring.pump(s.conn), false, "a broken connection stays quiet");

  s = ringSetup();
  s.g.set(RING.REQ_CONS, 100);
  s.g.set(RING.REQ_PROD, 50);
  s.ring.pump(s.conn);
  assert.ok(s.conn.broken, "cons ahead of prod");

  s = ringSetup();
  s.g.put(encode(XS.READ, 1, 0, "name\0"));
  s.g.set(RING.RSP_CONS, 0x80000000);
  assert.not.throws(() => s.ring.pump(s.conn));
  assert.ok(s.conn.broken, "rsp indexes garbage");

  s = ringSetup();
  const hdr = encode(XS.WRITE, 1, 0, "");
  new DataView(hdr.buffer).setUint32(12, 100000, true);
  s.g.put(hdr);
  s.ring.pump(s.conn);
  assert.ok(s.conn.broken, "len > XENSTORE_PAYLOAD_MAX");
  assert.is(s.g.u32(RING.ERROR), XENSTORE_ERROR_PROTO);

  // Random pages: no throw, no hang.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0);
  for (let i = 0; i < 300; i++) {
    s = ringSetup();
    for (let j = 0; j < 4096; j += 4) s.g.set(j, rnd() % 5 === 0 ? rnd() : rnd() & 0x3ff);
    if (i % 2) s.g.set(RING.CONNECTION, 0);
    assert.not.throws(() => { for (let k = 0; k < 3; k++) s.ring.pump(s.conn); });
  }

  // An onOutput that pumps synchronously (re-entrancy) still delivers everything in order.
  {
    const xs2 = new XenStore();
    populateDomain(xs2, 1, "g");
    const page = new Uint8Array(4096);
    let conn2: any;
    const ring2: XsRing = new XsRing(page, { onOutput: () => ring2.pump(conn2) });
    ring2.init();
    conn2 = xs2.connect(1, ring2.send);
    const g2 = new GuestSide(page);
    g2.put(encode(XS.WATCH, 1, 0, "data\0t\0"));
    g2.put(encode(XS.WRITE, 2, 0, "data/x\0v"));
    ring2.pump(conn2);
    assert.equal(g2.take().map((m) => m.type), [XS.WATCH, XS.WATCH_EVENT, XS.WATCH_EVENT, XS.WRITE]);
  }

  // A detached/too-small page is tolerated.
  const xs = new XenStore();
  const r = new XsRing(() => new Uint8Array(16));
  assert.is(r.pump(xs.connect(1, r.send)), false);
});

test("ring: guest-requested reconnect resets the connection", () => {
  const { ring, conn, g } = ringSetup();
  g.put(encode(XS.WATCH, 1, 0, "data\0t\0"));
  ring.pump(conn);
  g.take();
  assert.is(conn.watches.length, 1);
  g.set(RING.CONNECTION, XENSTORE_RECONNECT);
  assert.ok(ring.pump(conn));
  assert.is(g.u32(RING.CONNECTION), 0);
  assert.is(conn.watches.length, 0);
  assert.is(g.u32(RING.REQ_PROD), 0);
  g.put(encode(XS.READ, 2, 0, "name\0"));
  ring.pump(conn);
  assert.equal(g.take().map((m) => m.body), ["guest1"]);
});

// ---------------------------------------------------------------- domain nodes

test("populateDomain writes xl's nodes with xl's permissions", () => {
  const xs = new XenStore();
  populateDomain(
    xs, 5, "vm5",
    { memoryKb: 65536, storeMfn: 1234, storePort: 1, consoleRef: 99, consolePort: 2, consoleLimit: 1048576 }
  );
  xs.introduce(5);
  const d5 = new Client(xs, 5), d6 = new Client(xs, 6);
  assert.is(xs.readString("/local/domain/5/name"), "vm5");
  assert.is(xs.readString("/local/domain/5/domid"), "5");
  assert.is(xs.readString("/local/domain/5/memory/target"), "65536");
  assert.is(xs.readString("/local/domain/5/store/ring-ref"), "1234");
  assert.is(xs.readString("/local/domain/5/console/ring-ref"), "99");
  assert.is(xs.readString("/local/domain/5/console/port"), "2");
  assert.is(xs.readString("/local/domain/5/console/type"), "xenconsoled");
  assert.is(xs.readString("/local/domain/5/console/limit"), "1048576");
  const vm = xs.readString("/local/domain/5/vm")!;
  assert.is(xs.readString(`${vm}/name`), "vm5");
  assert.equal(xs.getPerms("/local/domain/5"), [{ domid: 0, perm: "n" }, { domid: 5, perm: "r" }]);
  assert.is(d5.read("name"), "vm5");
  assert.is(d5.read("console/ring-ref"), "99");
  assert.is(d5.write("control/shutdown", "poweroff"), "OK\0", "the guest answers control/shutdown");
  assert.is(d5.write("control/feature-poweroff", "1"), "OK\0");
  assert.is(d5.write("control/other", "1"), "ERR:EACCES");
  assert.is(d5.write("name", "x"), "ERR:EACCES");
  assert.is(d5.write("memory/target", "1"), "ERR:EACCES");
  assert.is(d5.write("device/vif", ""), "ERR:EACCES", "device/ itself is read-only (xl default)");
  assert.is(d5.write("device/suspend/event-channel", "7"), "OK\0");
  for (const d of ["data", "drivers", "feature", "attr", "error"]) assert.is(d5.write(`${d}/k`, "v"), "OK\0", d);
  assert.is(d6.read("/local/domain/5/name"), "ERR:EACCES");
  assert.is(d6.read(`${vm}/name`), "ERR:EACCES");
  // dom0 tools see the shutdown request.
  const d0 = new Client(xs, 0);
  d0.watch("/local/domain/5/control/shutdown", "sd");
  d0.events();
  d5.write("control/shutdown", "reboot");
  assert.equal(d0.events(), ["/local/domain/5/control/shutdown|sd"]);
});

test.run();
