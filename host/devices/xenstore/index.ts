// xenstored in TypeScript: a pure, synchronous store daemon (no I/O of its own).
//
//   const xs = new XenStore();
//   populateDomain(xs, 1, "guest", { storeMfn, storePort, consoleRef, consolePort, memoryKb });
//   xs.introduce(1);
//   const ring = new XsRing(() => pageView, { onOutput: () => schedulePump() });
//   ring.init();
//   const conn = xs.connect(1, ring.send);
//   // on the guest's event-channel notification (and after onOutput):
//   if (ring.pump(conn)) notifyGuest();
//   if (conn.broken) { /* drop or reset the connection */ }
export * from "./wire";
export * from "./tree";
export { Transaction, type View, type QueuedEvent } from "./transaction";
export { watchMatches, fireWatches, type Watch, type Match, type Watcher } from "./watch";
export { type Quota } from "./ops";
export { XenStore, Connection, DEFAULT_QUOTA, SERVER_FEATURES, type XenStoreOptions } from "./store";
export { XsRing, RING, XENSTORE_RING_SIZE, type XsRingOptions } from "./ring";
export { populateDomain, defaultUuid, type DomainNodes } from "./domain";
