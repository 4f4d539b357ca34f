// Watches: registration records and the matching rules of xenstored's fire_watches.
import { isChild, parentOf, permFor, PERM_READ, type Node, type Perm, type Tree, type Who } from "./tree";
import { XsError } from "./wire";

export interface Watch {
  /** Canonical (absolute or @special) path watched. */
  readonly path: string;
  readonly token: string;
  /** Characters to strip from event paths: non-zero for watches set with a relative path. */
  readonly prefixLen: number;
  /** Levels below `path` that still match; -1 = unlimited. */
  readonly depth: number;
}

/**
 * How an event path is matched against watches (xenstored's enum watch_match):
 * subtree — event at or below the watch path (the common case);
 * exact — only a watch on exactly that path (children removed with a parent);
 * depth / nodepth — special @releaseDomain/<domid> events.
 */
export type Match = "subtree" | "exact" | "depth" | "nodepth";

export function watchMatches(w: Watch, name: string, match: Match): boolean {
  switch (match) {
    case "exact": return name === w.path;
    case "subtree": return isChild(name, w.path, w.depth);
    case "depth": return name === w.path || (w.depth > 0 && isChild(name, w.path, w.depth));
    case "nodepth": return name === w.path && w.depth < 0;
  }
}

/** What a watcher needs to offer. */
export interface Watcher {
  readonly who: Who;
  readonly watches: Watch[];
  sendEvent(path: string, token: string): void;
}

/**
 * xenstored's watch_permitted: the watcher must be able to read the node or its parent (or the
 * node under its old permissions, for a permission change).
 */
export function watchPermitted(
  who: Who, tree: Tree, name: string, node: Node | undefined, oldPerms?: readonly Perm[]
): boolean {
  if (who.privileged) return true;
  if (oldPerms && (permFor(oldPerms, who) & PERM_READ)) return true;
  const n = node ?? tree.get(name);
  if (!n) return false;
  if (permFor(n.perms, who) & PERM_READ) return true;
  if (name[0] === "@") return false;
  const p = tree.get(parentOf(name));
  return !!p && (permFor(p.perms, who) & PERM_READ) !== 0;
}

/** Sends a WATCH_EVENT to every matching watch of every watcher allowed to see `name`. */
export function fireWatches(
  watchers: Iterable<Watcher>, tree: Tree, name: string, node: Node | undefined, match: Match,
  oldPerms?: readonly Perm[]
): void {
  for (const c of watchers) {
    if (c.watches.length === 0) continue;
    if (!watchPermitted(c.who, tree, name, node, oldPerms)) continue;
    for (const w of c.watches.slice()) {
      if (watchMatches(w, name, match)) c.sendEvent(name.slice(w.prefixLen), w.token);
    }
  }
}

export function removeWatch(list: Watch[], path: string, token: string): void {
  const i = list.findIndex((x) => x.path === path && x.token === token);
  if (i < 0) throw new XsError("ENOENT");
  list.splice(i, 1);
}
