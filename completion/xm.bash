# bash completion for xm and xend (xenwasm). Everything is read from xm itself, so it follows the
# commands: the command names from `xm help`, a command's options from the usage line of
# `xm help CMD`, domain names from `xm list`. Install: source this file, or copy it to
# /etc/bash_completion.d/xm (or ~/.local/share/bash-completion/completions/xm and .../xend).

_xm_commands() { xm help 2>/dev/null | awk '/^Commands:/{c=1;next} c && /^  [a-z]/{print $1}'; }
_xm_domains() { xm list 2>/dev/null | awk 'NR>1 && $1 != "Domain-0" {print $1}'; }

_xm() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$(_xm_commands)" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    local opts
    opts=$(xm help "$cmd" 2>/dev/null | sed -n '1s/^usage: //p' | grep -oE -- '--?[a-zA-Z][a-zA-Z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  case $cmd in
    create|restore|run|help) [ "$cmd" = help ] && COMPREPLY=($(compgen -W "$(_xm_commands)" -- "$cur")) || COMPREPLY=($(compgen -f -- "$cur")) ;;
    save) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "$(_xm_domains)" -- "$cur")) || COMPREPLY=($(compgen -f -- "$cur")) ;;
    info|dmesg|top|debug-keys|console-input|virq-handler) ;;
    block-attach) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "$(_xm_domains)" -- "$cur")) || COMPREPLY=($(compgen -f -- "$cur")) ;;
    *) [ "$COMP_CWORD" -eq 2 ] || [ "$cmd" = list ] || [ "$cmd" = uptime ] && COMPREPLY=($(compgen -W "$(_xm_domains)" -- "$cur")) ;;
  esac
}
complete -F _xm xm

_xend() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then COMPREPLY=($(compgen -W "start stop status run help" -- "$cur"));
  elif [ "${COMP_WORDS[1]}" = stop ]; then
    [ "${COMP_WORDS[COMP_CWORD-1]}" = --save ] && COMPREPLY=($(compgen -d -- "$cur")) || COMPREPLY=($(compgen -W "--shutdown --save --destroy" -- "$cur"))
  fi
}
complete -F _xend xend
