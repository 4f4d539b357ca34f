// The node tree: path → node { value, children, perms, gen }. Nodes are immutable objects (every
// change replaces the node), which makes transaction snapshots a cheap Map copy and conflict
// detection an identity comparison. Also: path syntax checks and the permission rules of xenstored.
import { XsError, XENSTORE_ABS_PATH_MAX } from "./wire";

export type PermLetter = "n" | "r" | "w" | "b";
export interface Perm { readonly domid: number; readonly perm: PermLetter }

export interface Node {
  readonly value: Uint8Array;
  readonly children: readonly string[];
  /** perms[0] is the owner (full access); its letter is the default for domains not listed. */
  readonly perms: readonly Perm[];
  /** Generation of the last change (DIRECTORY_PART reports it). */
  readonly gen: number;
}

export const DOMID_ANY = 0x7ff5;
export const PERM_READ = 1;
export const PERM_WRITE = 2;
export const PERM_OWNER = 4;

const LETTER_BITS: Record<PermLetter, number> = { n: 0, r: PERM_READ, w: PERM_WRITE, b: PERM_READ | PERM_WRITE };

/** Who is asking: a domain, possibly privileged (dom0), possibly acting for a target (SET_TARGET). */
export interface Who { domid: number; privileged: boolean; target?: number }

function permMatches(who: Who, domid: number): boolean {
  return domid === who.domid || (who.target !== undefined && domid === who.target) || domid === DOMID_ANY;
}

/** xenstored's perm_for_conn: READ/WRITE/OWNER bits this caller has on a node. */
export function permFor(perms: readonly Perm[], who: Who): number {
  if (who.privileged || perms.length === 0 || permMatches(who, perms[0].domid))
    return PERM_READ | PERM_WRITE | PERM_OWNER;
  for (let i = 1; i < perms.length; i++) {
    if (permMatches(who, perms[i].domid)) return LETTER_BITS[perms[i].perm];
  }
  return LETTER_BITS[perms[0].perm];
}

export function permToString(p: Perm): string { return p.perm + String(p.domid); }

/** Parses "r5" style strings; null if malformed. */
export function parsePerm(s: string): Perm | null {
  const m = /^([nrwb])([0-9]{1,5})$/.exec(s);
  if (!m) return null;
  const domid = Number(m[2]);
  if (domid > 0xffff) return null;
  return { domid, perm: m[1] as PermLetter };
}

const VALID = /^[A-Za-z0-9\-/_@]*$/;

export function domainPath(domid: number): string { return `/local/domain/${domid}`; }

/**
 * xenstored's canonicalize: validates characters, resolves a relative path against the caller's
 * /local/domain/<domid>, rejects trailing and doubled slashes and over-long paths. Special paths
 * (@introduceDomain...) only where allowed (watches, perms).
 */
export function canonicalize(path: string | null, who: Who, allowSpecial: boolean, relMax: number): string {
  if (path === null || path.length === 0 || !VALID.test(path) || (path[0] === "@" && !allowSpecial))
    throw new XsError("EINVAL");
  const name = path[0] !== "/" && path[0] !== "@" ? `${domainPath(who.domid)}/${path}` : path;
  if (name.length > 1 && name.endsWith("/")) throw new XsError("EINVAL");
  if (name.includes("//")) throw new XsError("EINVAL");
  if (name.length > XENSTORE_ABS_PATH_MAX) throw new XsError("EINVAL");
  if (!who.privileged && relMax > 0) {
    // Only the part below /local/domain/<id>/ counts against the relative limit.
    const m = /^\/local\/domain\/[0-9]{1,5}\//.exec(name);
    if (name.length - (m ? m[0].length : 0) > relMax) throw new XsError("EINVAL");
  }
  return name;
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

export function baseName(path: string): string { return path.slice(path.lastIndexOf("/") + 1); }

export function childPath(dir: string, leaf: string): string { return dir === "/" ? `/${leaf}` : `${dir}/${leaf}`; }

/** Is `child` equal to or below `parent`? (depth limit as xenstored's is_child; -1 = none) */
export function isChild(child: string, parent: string, depth = -1): boolean {
  if (!child.startsWith(parent)) return false;
  const len = parent.length;
  if (len > 1 && child.length > len && child[len] !== "/") return false;
  if (depth < 0 || child.length === len) return true;
  // Levels below parent: number of '/' after it (the root counts its first level as one).
  const rest = child.slice(len);
  let levels = (rest.match(/\//g) ?? []).length;
  if (len === 1) levels = rest.length === 0 ? 0 : (rest.match(/\//g) ?? []).length + 1;
  return levels <= depth;
}

const EMPTY = new Uint8Array(0);

export function makeNode(
  perms: readonly Perm[], value: Uint8Array = EMPTY, children: readonly string[] = [], gen = 0
): Node {
  return { value, children, perms, gen };
}

/** A map of nodes plus the per-owner node count xenstored's "nodes" quota uses, and (in the live tree)
 * for each domain the paths whose permissions name it, so that releasing a domain visits those nodes
 * and not the whole store (1024 domains took a minute to tear down when every release scanned it). */
export class Tree {
  readonly nodes: Map<string, Node>;
  readonly owned: Map<number, number>;
  /** domid -> paths whose permissions name it (undefined in a transaction's copy: not needed there). */
  private readonly named?: Map<number, Set<string>>;

  constructor(nodes?: Map<string, Node>, owned?: Map<number, number>, indexed = true) {
    this.nodes = nodes ?? new Map();
    this.owned = owned ?? new Map();
    if (indexed) {
      this.named = new Map();
      for (const [p, n] of this.nodes) this.index(p, n, true);
    }
  }

  /** A copy for a transaction (no index of names: releases act on the live tree). */
  clone(): Tree { return new Tree(new Map(this.nodes), new Map(this.owned), false); }

  get(path: string): Node | undefined { return this.nodes.get(path); }

  count(domid: number): number { return this.owned.get(domid) ?? 0; }

  /** The paths whose permissions name `domid` (owner or any entry), a copy. */
  naming(domid: number): string[] {
    if (this.named) return [...(this.named.get(domid) ?? [])];
    const out: string[] = [];
    for (const [p, n] of this.nodes) if (n.perms.some((x) => x.domid === domid)) out.push(p);
    return out;
  }

  private account(n: Node | undefined, d: number): void {
    if (!n || n.perms.length === 0) return;
    const o = n.perms[0].domid;
    this.owned.set(o, (this.owned.get(o) ?? 0) + d);
  }

  private index(path: string, n: Node | undefined, add: boolean): void {
    if (!this.named || !n) return;
    for (const { domid } of n.perms) {
      let set = this.named.get(domid);
      if (add) {
        if (!set) this.named.set(domid, set = new Set());
        set.add(path);
      } else if (set) {
        set.delete(path);
        if (set.size === 0) this.named.delete(domid);
      }
    }
  }

  set(path: string, node: Node): void {
    const old = this.nodes.get(path);
    this.account(old, -1);
    this.index(path, old, false);
    this.nodes.set(path, node);
    this.account(node, +1);
    this.index(path, node, true);
  }

  delete(path: string): void {
    const old = this.nodes.get(path);
    this.account(old, -1);
    this.index(path, old, false);
    this.nodes.delete(path);
  }

  /** Paths of a subtree, children before parents (the order xenstored removes them in). */
  subtree(path: string): string[] {
    const out: string[] = [];
    const walk = (p: string) => {
      const n = this.nodes.get(p);
      if (!n) return;
      for (const c of n.children) walk(childPath(p, c));
      out.push(p);
    };
    walk(path);
    return out;
  }
}
