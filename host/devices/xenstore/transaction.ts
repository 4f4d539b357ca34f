// Transactions and the "view" abstraction the operations run on: either the live tree (changes
// land at once and fire watches at once) or a transaction's private copy (changes land at commit,
// watches fire at commit, and a commit fails with EAGAIN if anything the transaction looked at
// changed in the live tree meanwhile).
import type { Node, Perm, Tree } from "./tree";
import type { Match } from "./watch";
import { XsError } from "./wire";

/** What the tree operations see. */
export interface View {
  get(path: string): Node | undefined;
  /** Stores a node (the view assigns its generation). */
  set(path: string, node: Node): void;
  delete(path: string): void;
  /** Nodes owned by a domain (the "nodes" quota). */
  count(domid: number): number;
  /** Reports a change for the watches (now, or at commit). */
  fire(name: string, node: Node | undefined, match: Match, oldPerms?: readonly Perm[]): void;
  /** The tree permission checks of watch events read. */
  readonly tree: Tree;
}

export interface QueuedEvent { name: string; node: Node | undefined; match: Match; oldPerms?: readonly Perm[] }

export class Transaction implements View {
  /** The live tree is copied at start; reads and writes go to the copy. */
  readonly tree: Tree;
  /** Each path the transaction touched, with the node it saw first (undefined: absent). */
  private readonly seen = new Map<string, Node | undefined>();
  private readonly written = new Set<string>();
  readonly events: QueuedEvent[] = [];

  constructor(readonly id: number, live: Tree, private readonly nextGen: () => number) {
    this.tree = live.clone();
  }

  private touch(path: string): void {
    if (!this.seen.has(path)) this.seen.set(path, this.tree.get(path));
  }

  get(path: string): Node | undefined { this.touch(path); return this.tree.get(path); }

  set(path: string, node: Node): void {
    this.touch(path);
    this.written.add(path);
    this.tree.set(path, { ...node, gen: this.nextGen() });
  }

  delete(path: string): void {
    this.touch(path);
    this.written.add(path);
    this.tree.delete(path);
  }

  count(domid: number): number { return this.tree.count(domid); }

  fire(name: string, node: Node | undefined, match: Match, oldPerms?: readonly Perm[]): void {
    this.events.push({ name, node, match, oldPerms });
  }

  /** True if the live tree still holds what this transaction saw of it. */
  conflicts(live: Tree): boolean {
    for (const [p, n] of this.seen) if (live.get(p) !== n) return true;
    return false;
  }

  /** Applies the transaction's changes to the live tree; throws EAGAIN on a conflict. */
  commit(live: Tree): void {
    if (this.conflicts(live)) throw new XsError("EAGAIN");
    for (const p of this.written) {
      const n = this.tree.get(p);
      if (n) live.set(p, { ...n, gen: this.nextGen() });
      else live.delete(p);
    }
  }
}
