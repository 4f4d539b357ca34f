// `node scripts/fmt.mjs [--check] [--width N] [file...]`: the project's formatter for its TypeScript and
// JavaScript (assembly/, host/, tests/, bench/, scripts/, bin/, web/, examples/, xzwasm/).
//
// What it does: no line longer than 120 columns, no trailing blanks, one newline at the end. It changes
// nothing else: the code keeps its own layout (dense one-line statements included) until a line is too
// long, and then only that line is broken, by the TypeScript parser's view of it:
// - a trailing `// comment` moves above its line; a comment line is re-filled at its own prefix;
// - statements (`a; b; c;`) are filled onto lines; a `case X:` continues two columns in;
// - lists (arguments, parameters, array and object literals, import/export names, declarations) are
//   filled after their commas;
// - a bracketed group (a block, a call's arguments, a literal) opens: its contents on their own lines two
//   columns in, the closing bracket back at the line's indentation with what follows it;
// - an expression breaks before its lowest-precedence binary operators, before `?`/`:` of a
//   conditional, after `=` or `=>`, after an `if (...)`/`for (...)`/`while (...)`/`else` header whose
//   statement has no braces;
// each line is laid out by whichever of these gives the fewest lines over the width, then the fewest lines.
// What cannot be broken (a long string, a line of a multi-line template literal) is reported.
//
// Every change is checked before it is written: the file must parse to the same syntax tree (node kinds
// in order: an automatic semicolon the new line breaks introduced would show), the same tokens, and the
// same comment words; a file failing that is left alone and reported (a formatter bug, exit 2).
// --check writes nothing and lists the files it would change (exit 1 if any). `npm test` runs it
// (tests/format.test.ts). `npm run fmt` formats the tree.
import ts from "typescript";
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const WIDTH = 120;
const ROOTS = ["assembly/", "host/", "tests/", "bench/", "scripts/", "bin/", "web/", "examples/", "xzwasm/"];

const K = ts.SyntaxKind;
const OPENERS = new Set([K.OpenParenToken, K.OpenBracketToken, K.OpenBraceToken]);
const CLOSERS = new Set([K.CloseParenToken, K.CloseBracketToken, K.CloseBraceToken]);
const PREC = new Map([
  [K.QuestionQuestionToken, 4], [K.BarBarToken, 5], [K.AmpersandAmpersandToken, 6], [K.BarToken, 7],
  [K.CaretToken, 8], [K.AmpersandToken, 9],
  [K.EqualsEqualsToken, 10], [K.ExclamationEqualsToken, 10], [K.EqualsEqualsEqualsToken, 10],
  [K.ExclamationEqualsEqualsToken, 10],
  [K.LessThanToken, 11], [K.GreaterThanToken, 11], [K.LessThanEqualsToken, 11], [K.GreaterThanEqualsToken, 11],
  [K.InstanceOfKeyword, 11], [K.InKeyword, 11],
  [K.LessThanLessThanToken, 12], [K.GreaterThanGreaterThanToken, 12], [K.GreaterThanGreaterThanGreaterThanToken, 12],
  [K.PlusToken, 13], [K.MinusToken, 13],
  [K.AsteriskToken, 14], [K.SlashToken, 14], [K.PercentToken, 14], [K.AsteriskAsteriskToken, 15],
]);
const BLOCKS = new Set([K.Block, K.ModuleBlock, K.CaseBlock, K.ClassDeclaration, K.ClassExpression,
  K.InterfaceDeclaration, K.EnumDeclaration]);
const HEADERS = new Set([K.IfStatement, K.ForStatement, K.ForOfStatement, K.ForInStatement, K.WhileStatement]);

function kindOf(file) {
  if (file.endsWith(".ts")) return ts.ScriptKind.TS;
  return ts.ScriptKind.JS;
}

function parse(file, text) {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kindOf(file));
}

/** The leaf tokens of a parsed file, in order: { kind, start, end, parent }. */
function leaves(sf) {
  const out = [];
  const walk = (node, holder) => {
    if (node.kind >= K.FirstJSDocNode && node.kind <= K.LastJSDocNode) return;
    const kids = node.getChildren(sf);
    if (kids.length === 0) {
      if (node.kind !== K.EndOfFileToken && node.end > node.pos) {
        out.push({ kind: node.kind, start: node.getStart(sf), end: node.end, parent: node.parent, holder });
      }
      return;
    }
    for (const k of kids) walk(k, node);
  };
  walk(sf, null);
  return out;
}

/** Preorder node kinds: the shape a formatting change must keep. */
function shape(sf) {
  const out = [];
  const walk = (node) => { out.push(node.kind); ts.forEachChild(node, walk); };
  walk(sf);
  return out.join(",");
}

function commentWords(text, toks) {
  const words = [];
  let prev = 0;
  const take = (triv) => {
    for (const m of triv.matchAll(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g)) {
      const body = m[0].startsWith("//") ? m[0].replace(/^\/\/+/, "") : m[0].slice(2, -2).replace(/^\s*\*+/gm, "");
      for (const w of body.split(/\s+/)) if (w) words.push(w);
    }
  };
  for (const t of toks) { take(text.slice(prev, t.start)); prev = t.end; }
  take(text.slice(prev));
  return words.sort().join(" ");
}

function tokensText(text, toks) {
  return toks.map((t) => `${t.kind}:${text.slice(t.start, t.end)}`).join("\u0000");
}

// ---- one long line -------------------------------------------------------------------------------

/** Re-fills a comment line (`//`, ` * `) at its prefix. */
function fillComment(line, width) {
  const m = /^(\s*)(\/\/+\s*|\*\s+|\/\*+\s*)/.exec(line);
  if (!m) return null;
  const first = m[1] + m[2];
  const cont = m[1] + (m[2].startsWith("/*") ? " * ".padEnd(m[2].length, " ") : m[2]);
  const out = [];
  let rest = line.slice(first.length);
  let prefix = first;
  while (prefix.length + rest.length > width) {
    const room = width - prefix.length;
    let cut = rest.lastIndexOf(" ", room);
    while (cut > 0 && rest[cut - 1] === " ") cut--;
    if (cut <= 0) { cut = rest.indexOf(" ", room); if (cut < 0) break; }
    out.push(prefix + rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
    prefix = cont;
  }
  out.push(prefix + rest);
  return out;
}

const NO = { lines: null, pen: 0 };

class Line {
  constructor(text, toks, lineStart, width) {
    this.src = text; this.T = toks; this.lineStart = lineStart; this.width = width; this.memo = new Map();
  }

  /** Where a piece starting at token i begins: a comment just before it on the line comes with it. */
  startOf(i) {
    const t = this.T[i];
    const from = i > 0 ? this.T[i - 1].end : this.lineStart;
    const triv = this.src.slice(from, t.start);
    const c = triv.search(/\/[*/]/);
    return c >= 0 ? from + c : t.start;
  }

  render(a, b) { return this.src.slice(this.startOf(a), this.T[b - 1].end); }

  /** Lines over the width first, then their excess, then the number of lines, then how each was broken. */
  cost(r) {
    let over = 0, chars = 0;
    for (const l of r.lines) if (l.length > this.width) { over++; chars += l.length - this.width; }
    return over * 1e6 + chars * 100 + r.lines.length * 10 + r.pen;
  }

  best(cands) {
    let best = null, bc = Infinity;
    for (const c of cands) { if (!c.lines) continue; const k = this.cost(c); if (k < bc) { bc = k; best = c; } }
    return best;
  }

  join(pen, ...parts) {
    const lines = [];
    for (const p of parts) { lines.push(...p.lines); pen += p.pen; }
    return { lines, pen };
  }

  /** Lines for tokens [a, b) at indentation `ind`: { lines, pen }. */
  layout(a, b, ind) {
    const key = `${a},${b},${ind}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const flat = { lines: [" ".repeat(ind) + this.render(a, b)], pen: 0 };
    let res = flat;
    if (flat.lines[0].length > this.width && b - a > 1) {
      this.memo.set(key, flat); // (every strategy lays out strictly smaller ranges)
      res = this.best([flat, ...this.strategies(a, b, ind)]);
    }
    this.memo.set(key, res);
    return res;
  }

  /** Fills pieces (split after the token indices in `cuts`) onto lines; the first at `ind`, the rest at `cont`. */
  fill(a, b, cuts, ind, cont, pen) {
    const bounds = [a, ...cuts.map((i) => i + 1).filter((i) => i > a && i < b), b];
    if (bounds.length < 3) return NO;
    const parts = [];
    let k = 0;
    while (k < bounds.length - 1) {
      const lineInd = parts.length === 0 ? ind : cont;
      let j = k + 1;
      while (j + 1 < bounds.length && lineInd + this.render(bounds[k], bounds[j + 1]).length <= this.width) j++;
      parts.push(this.layout(bounds[k], bounds[j], lineInd));
      k = j;
    }
    return this.join(pen, ...parts);
  }

  split(a, i, b, ind, cont, pen) {
    return this.join(pen, this.layout(a, i + 1, ind), this.layout(i + 1, b, cont));
  }

  strategies(a, b, ind) {
    const T = this.T;
    // Depths relative to the piece, and the groups that open and close inside it.
    const depth = [];
    const match = new Map();
    const stack = [];
    let d = 0;
    for (let i = a; i < b; i++) {
      const k = T[i].kind;
      if (CLOSERS.has(k)) { d--; const o = stack.pop(); if (o !== undefined && o >= 0) match.set(o, i); }
      depth.push(d);
      if (OPENERS.has(k)) { d++; stack.push(i); }
      else if (k === K.TemplateHead) { d++; stack.push(-1); }
      else if (k === K.TemplateTail) { d--; stack.pop(); }
    }
    const m = Math.min(...depth);
    const top = [];
    for (let i = a; i < b; i++) if (depth[i - a] === m) top.push(i);
    const kindAt = (i) => T[i].kind;
    const parentKind = (i) => T[i].parent?.kind;
    const out = [];

    // Statements.
    const semis = top.filter((i) => kindAt(i) === K.SemicolonToken && i + 1 < b && parentKind(i) !== K.ForStatement);
    if (semis.length) {
      const label = T[a].kind === K.CaseKeyword || T[a].kind === K.DefaultKeyword;
      out.push(this.fill(a, b, semis, ind, label ? ind + 2 : ind, 0));
    }
    // A list's commas (not a type's arguments).
    const commas = top.filter((i) => kindAt(i) === K.CommaToken && !typeList(T[i]));
    if (commas.length) {
      const list = T[commas[0]].holder;
      const atElement = list?.kind === K.SyntaxList && list.getChildren().some((c) => c.getStart() === T[a].start);
      out.push(this.fill(a, b, commas, ind, atElement ? ind : ind + 2, 2));
    }
    // Binary operators: the lowest-precedence ones of one expression at this depth.
    const roots = new Map();
    for (const i of top) {
      const p = T[i].parent;
      if (i === a || !p || p.kind !== K.BinaryExpression || p.operatorToken?.getStart() !== T[i].start) continue;
      const pr = PREC.get(kindAt(i));
      if (pr === undefined) continue;
      let r = p;
      while (r.parent?.kind === K.BinaryExpression && PREC.get(r.parent.operatorToken.kind) === pr) r = r.parent;
      if (!roots.has(r)) roots.set(r, { pr, ops: [] });
      roots.get(r).ops.push(i);
    }
    for (const { pr, ops } of roots.values())
      out.push(this.fill(a, b, ops.map((i) => i - 1), ind, ind + 2, 3 + (pr - 4) / 2));
    // A conditional's `?` and `:`.
    const cond = top.filter((i) => i > a && (kindAt(i) === K.QuestionToken || kindAt(i) === K.ColonToken) &&
      parentKind(i) === K.ConditionalExpression);
    if (cond.length) out.push(this.fill(a, b, cond.map((i) => i - 1), ind, ind + 2, 4));
    // A chain of calls: before each `.` of a call's callee.
    const dots = top.filter((i) => i > a && kindAt(i) === K.DotToken && parentKind(i) === K.PropertyAccessExpression &&
      T[i].parent.parent?.kind === K.CallExpression && T[i].parent.parent.expression === T[i].parent);
    if (dots.length > 1) out.push(this.fill(a, b, dots.map((i) => i - 1), ind, ind + 2, 4));
    // After `=` / `=>`, a header without braces, `else`, a case label.
    for (const i of top) {
      if (i + 1 >= b) continue;
      const k = kindAt(i), pk = parentKind(i), next = kindAt(i + 1);
      if (k === K.EqualsGreaterThanToken && next !== K.OpenBraceToken) out.push(this.split(a, i, b, ind, ind + 2, 2));
      else if (k === K.EqualsToken) out.push(this.split(a, i, b, ind, ind + 2, blockFunction(T[i + 1]) ? 15 : 3));
      else if ((k === K.CloseParenToken && HEADERS.has(pk) && next !== K.OpenBraceToken) ||
        (k === K.ElseKeyword && next !== K.OpenBraceToken && next !== K.IfKeyword) ||
        (k === K.ColonToken && (pk === K.CaseClause || pk === K.DefaultClause) && next !== K.OpenBraceToken)) {
        const chain = next === K.CaseKeyword || next === K.DefaultKeyword;
        out.push(this.split(a, i, b, ind, chain ? ind : ind + 2, chain ? 2 : 1));
      }
    }
    // Open a group: its contents on their own lines (a block or a list; a lone parenthesized expression last).
    for (const i of top) {
      const c = match.get(i);
      if (c === undefined || c - i < 2) continue;
      let inner = false;
      for (let j = i + 1; j < c; j++) {
        if (depth[j - a] === m + 1 && (kindAt(j) === K.CommaToken || kindAt(j) === K.SemicolonToken)) {
          inner = true; break;
        }
      }
      const pen = kindAt(i) === K.OpenBraceToken && BLOCKS.has(parentKind(i)) ? 1
        : parentKind(i) === K.TypeLiteral ? 4 : inner ? 2 : 9;
      out.push(this.join(pen, this.layout(a, i + 1, ind), this.layout(i + 1, c, ind + 2), this.layout(c, b, ind)));
      // `f({ ... })`, `[[ ... ]]`: a group whose only content is another group opens both at once.
      if (OPENERS.has(kindAt(i + 1)) && match.get(i + 1) === c - 1 && c - i > 3) {
        out.push(
          this.join(1, this.layout(a, i + 2, ind), this.layout(i + 2, c - 1, ind + 2), this.layout(c - 1, b, ind))
        );
      }
    }
    // A closing bracket of a group opened on an earlier line: it goes back two columns, with what follows it.
    const closer = top.find((i) => i > a && CLOSERS.has(kindAt(i)) && ![...match.values()].includes(i));
    if (closer !== undefined) out.push(this.split(a, closer - 1, b, ind, Math.max(0, ind - 2), 2));
    // An opening bracket whose group goes on past this line: what follows it, two columns in (or its first
    // line still beside the bracket, as in `test("a long " +\n  "name", () => {`).
    for (const i of top) {
      if (!OPENERS.has(kindAt(i)) || match.has(i) || i + 1 >= b) continue;
      out.push(this.split(a, i, b, ind, ind + 2, 2));
      const head = this.layout(a, i + 1, ind), rest = this.layout(i + 1, b, ind + 2);
      if (head.lines.length === 1 && rest.lines.length > 1) {
        const lines = [head.lines[0] + rest.lines[0].trimStart(), ...rest.lines.slice(1)];
        out.push({ lines, pen: head.pen + rest.pen + 1 });
      }
    }
    return out;
  }
}

/** A function expression or arrow function with a block body starts at this token. */
function blockFunction(tok) {
  let n = tok.parent;
  while (n && n.getStart() === tok.start && n.kind !== K.ArrowFunction && n.kind !== K.FunctionExpression) n = n.parent;
  return !!n && n.getStart() === tok.start && n.body?.kind === K.Block;
}

/** A comma between a type's arguments or parameters (`Record<number, Op[]>`): not a place to break. */
function typeList(tok) {
  const list = tok.holder, p = list?.parent;
  if (!p || list.kind !== K.SyntaxList) return false;
  return (p.typeArguments?.pos === list.pos && p.typeArguments?.end === list.end) ||
    (p.typeParameters?.pos === list.pos && p.typeParameters?.end === list.end);
}

/**
 * Formats one file's text. Returns { text, unbreakable: [{ line, text }] }; throws when the result would
 * not parse to the same program (a bug here, not in the file).
 */
export function format(file, text, width = WIDTH) {
  let src = text.replace(/[ \t]+$/gm, "");
  src = src.replace(/\n*$/, "\n");
  const unbreakable = [];
  for (let pass = 0; pass < 4; pass++) {
    if (!src.split("\n").some((l) => l.length > width)) break;
    const sf = parse(file, src);
    const toks = leaves(sf);
    const lines = src.split("\n");
    const starts = [];
    let p = 0;
    for (const l of lines) { starts.push(p); p += l.length + 1; }
    // Tokens by line; lines a token crosses (template literals, multi-line strings) are left alone.
    const byLine = new Map();
    const crossed = new Set();
    let li = 0;
    for (let ti = 0; ti < toks.length; ti++) {
      const t = toks[ti];
      while (li + 1 < starts.length && starts[li + 1] <= t.start) li++;
      if (!byLine.has(li)) byLine.set(li, []);
      byLine.get(li).push(ti);
      let lj = li;
      while (lj + 1 < starts.length && starts[lj + 1] < t.end) { lj++; crossed.add(lj); if (lj > li) crossed.add(li); }
    }
    const repl = new Map();
    unbreakable.length = 0;
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n];
      if (line.length <= width) continue;
      const idx = byLine.get(n);
      const trimmed = line.trimStart();
      if (!idx) {
        const c = !crossed.has(n) && fillComment(line, width);
        if (!c || !c.every((l) => l.length <= width)) { unbreakable.push({ line: n + 1, text: line }); continue; }
        // What overflows joins the next line when that continues the same paragraph of the comment.
        const prefix = /^\s*(\/\/+\s*|\*\s+)/.exec(line)?.[0];
        const next = lines[n + 1];
        const body = next?.slice(prefix?.length ?? 0);
        if (c.length > 1 && prefix && !byLine.has(n + 1) && !crossed.has(n + 1) && next.startsWith(prefix) && body &&
          !/^[\s\-*+>|#`]|^\d+[.)]\s/.test(body) && !/^\s*\/\/\s*$/.test(next)) {
          const carry = c.pop().slice(prefix.length);
          lines[n + 1] = prefix + carry + " " + body;
          repl.set(n + 1, [lines[n + 1]]);
        }
        repl.set(n, c);
        continue;
      }
      if (crossed.has(n)) { unbreakable.push({ line: n + 1, text: line }); continue; }
      const last = idx[idx.length - 1];
      const lineStart = starts[n];
      const codeEnd = toks[last].end;
      const trailing = src.slice(codeEnd, lineStart + line.length).trim();
      const ind = line.length - trimmed.length;
      const local = idx.map((i) => toks[i]);
      const L = new Line(src, local, lineStart, width);
      const out = [];
      if (trailing) {
        if (!/^(\/\/|\/\*)/.test(trailing)) { unbreakable.push({ line: n + 1, text: line }); continue; }
        const cl =
          trailing.startsWith("//") ? fillComment(" ".repeat(ind) + trailing, width) : [" ".repeat(ind) + trailing];
        out.push(...cl);
      }
      out.push(...L.layout(0, local.length, ind).lines);
      if (out.join("\n") === line) { unbreakable.push({ line: n + 1, text: line }); continue; }
      // (A line that stays over the width is left as it was, not half broken.)
      if (out.some((l) => l.length > width)) { unbreakable.push({ line: n + 1, text: line }); continue; }
      repl.set(n, out.map((l) => l.replace(/[ \t]+$/, "")));
    }
    if (repl.size === 0) break;
    const next = [];
    for (let n = 0; n < lines.length; n++) { if (repl.has(n)) next.push(...repl.get(n)); else next.push(lines[n]); }
    const candidate = next.join("\n");
    if (candidate === src) break;
    check(file, src, candidate);
    src = candidate;
  }
  if (src !== text) check(file, text, src);
  // What is still too long, by its line in the result.
  unbreakable.length = 0;
  src.split("\n").forEach((l, i) => { if (l.length > width) unbreakable.push({ line: i + 1, text: l }); });
  return { text: src, unbreakable };
}

/** Throws unless `after` is `before` with only line breaks, blanks and comment placement changed. */
export function check(file, before, after) {
  const a = parse(file, before), b = parse(file, after);
  const ta = leaves(a), tb = leaves(b);
  if (tokensText(before, ta) !== tokensText(after, tb)) throw new Error(`${file}: formatting changed the tokens`);
  if (shape(a) !== shape(b)) throw new Error(`${file}: formatting changed the syntax tree`);
  if (commentWords(before, ta) !== commentWords(after, tb)) throw new Error(`${file}: formatting changed the comments`);
}

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The files the formatter covers (paths relative to the repository's root). */
export function projectFiles() {
  const all = execFileSync("git", ["ls-files", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0");
  return all.filter((f) => /\.(ts|mjs|js)$/.test(f) && !f.endsWith(".d.ts") && ROOTS.some((r) => f.startsWith(r)));
}

function main(argv) {
  let checkOnly = false, width = WIDTH;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--check") checkOnly = true;
    else if (argv[i] === "--width") width = Number(argv[++i]);
    else files.push(argv[i]);
  }
  if (!files.length) process.chdir(ROOT);
  const list = files.length ? files : projectFiles();
  let changed = 0, broken = 0, bugs = 0;
  for (const f of list) {
    const text = readFileSync(f, "utf8");
    let r;
    try {
      r = format(f, text, width);
    } catch (e) { console.log(`fmt: ${e.message} (left as it is)`); bugs++; continue; }
    for (const u of r.unbreakable) { console.log(`${f}:${u.line}: cannot be made ${width} columns or less`); broken++; }
    if (r.text !== text) {
      changed++;
      if (checkOnly) console.log(`${f}: not formatted (npm run fmt)`);
      else writeFileSync(f, r.text);
    }
  }
  const verb = checkOnly ? "would change" : "changed";
  console.log(
    `fmt: ${list.length} files, ${changed} ${verb}, ${broken} lines over ${width} columns left, ${bugs} refused`
  );
  if (bugs) process.exit(2);
  if ((checkOnly && changed) || broken) process.exit(1);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
