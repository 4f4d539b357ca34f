// xm(1) as a man page, made from xm's one command table (the same names, usages and help texts that
// `xm help` and `xm help CMD` print, and that completion/xm.bash reads): `xm help --man` prints it,
// `npm run man` writes it to man/xm.1, and tests/man.test.ts checks that file is up to date.

export interface ManCommand { name: string; summary: string; usage: string; help: string }

/** Text for roff: backslashes escaped, '-' as the minus sign options are typed with, no leading '.'/'\''. */
function roff(s: string): string {
  return s.split("\n").map((l) => {
    const t = l.replace(/\\/g, "\\e").replace(/-/g, "\\-");
    return /^[.']/.test(t) ? `\\&${t}` : t;
  }).join("\n");
}

/** Pre-formatted lines (help texts are laid out for a terminal: option columns), kept as they are. */
const verbatim = (s: string) => `.nf\n${roff(s)}\n.fi`;

export function xmManPage(commands: readonly ManCommand[]): string {
  const out: string[] = [
    `.\\" Generated from xm's command table by \`npm run man\` (xm help --man): do not edit.`,
    `.TH XM 1 "" "xenwasm" "User Commands"`,
    ".nh",
    ".ad l",
    ".SH NAME",
    "xm \\- manage the domains of xenwasm (the Xen virtual machine monitor, in WebAssembly)",
    ".SH SYNOPSIS",
    ".B xm",
    ".I COMMAND",
    ".RI [ ARGS ...]",
    ".SH DESCRIPTION",
    roff("xm runs a PV kernel in-process (xm run) or asks xend, the daemon that holds the domains, to create,\n" +
      "list, save, migrate and destroy them, with xl's options and output. Options may come before or after\n" +
      "the arguments (getopt style: -cp, --long[=VALUE], -- ends the options); an unknown option is an error."),
    ".PP",
    roff("xm help lists the commands; xm help COMMAND (or xm COMMAND --help) shows one of the pages below."),
    ".SH COMMANDS",
  ];
  for (const c of commands) {
    out.push(
      `.SS ${roff(c.name)}`, roff(c.summary) + ".", ".PP", verbatim(`usage: ${c.usage}`), ".PP", verbatim(c.help)
    );
  }
  out.push(
    ".SH ENVIRONMENT",
    ".TP", ".B XEND_SOCKET", roff("xend's socket (default $TMPDIR/xenwasm-UID/xend.sock): the xend that xm talks to."),
    ".TP", ".B XENWASM_JIT", roff("The JIT tier (default on), with XENWASM_JIT_THRESHOLD (default 1000), for xm run."),
    ".TP", ".B XENWASM_KERNEL_CACHE",
    roff(
      "Where xm run and xend keep kernels decompressed from bzImages, so that booting one again skips its "
        + "decompression (default $XDG_CACHE_HOME/xenwasm/kernels or ~/.cache/xenwasm/kernels; off: none)."
    ),
    ".SH EXIT STATUS",
    roff(
      "0 on success; 1 with one line \"xm: ...\" on standard error otherwise. xm run exits with the guest's status."
    ),
    ".SH SEE ALSO",
    ".BR xend (1)",
    roff(
      "(xend help), the README's \"xend and xm as xl users know them\", and xl(1) of Xen, whose conventions xm follows."
    ),
  );
  return out.join("\n") + "\n";
}
