#!/usr/bin/env bash
# Install the system packages the DAG needs when they are missing: LaTeX (paper/main.tex -> PDF),
# latexmk, and poppler's pdftotext (the tests read the PDF's text). With the argument `slurm`,
# also what the SLURM tests need: munge, slurmctld, slurmd and the client commands (Debian's
# SLURM 22.05; tests/slurm/start.sh runs them as a one-node cluster); with `docs`, graphviz (make rulegraph).
# Debian/Ubuntu via apt-get;
# elsewhere it prints what to install and fails.
set -euo pipefail

PACKAGES=(texlive-latex-base texlive-latex-recommended lmodern latexmk poppler-utils)
COMMANDS=(pdflatex latexmk bibtex pdftotext)
if [ "${1:-}" = slurm ]; then
  PACKAGES+=(munge slurmctld slurmd slurm-client)
  COMMANDS+=(munged slurmctld slurmd sbatch squeue scancel)
fi
if [ "${1:-}" = docs ]; then  # `make rulegraph`: graphviz draws the README's picture of the rules
  PACKAGES+=(graphviz)
  COMMANDS+=(dot)
fi
missing() {
  for cmd in "${COMMANDS[@]}"; do command -v "$cmd" >/dev/null || { echo "$cmd"; return; }; done
  for file in lmodern.sty booktabs.sty natbib.sty; do
    [ -n "$(kpsewhich "$file" 2>/dev/null)" ] || { echo "$file"; return; }
  done
}

what=$(missing)
[ -z "$what" ] && exit 0
echo "system-deps: '$what' is missing; installing ${PACKAGES[*]}" >&2
if command -v apt-get >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(); fi
  if [ "$(id -u)" -eq 0 ] || [ ${#SUDO[@]} -gt 0 ]; then
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    what=$(missing)
    [ -z "$what" ] && exit 0
  fi
  echo "system-deps: run 'sudo apt-get install --no-install-recommends ${PACKAGES[*]}', then make again." >&2
else
  echo "system-deps: install a TeX distribution with latexmk, the lmodern/booktabs/natbib packages and poppler" \
       "(pdftotext)${1:+, and SLURM (slurmctld, slurmd, client commands) with munge}; e.g. macOS:" \
       "'brew install --cask mactex-no-gui && brew install poppler'. Then make again." >&2
fi
exit 1
