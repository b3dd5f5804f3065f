#!/usr/bin/env bash
# Checks the Markdown documentation against the tree: every relative link (and its #anchor) leads
# somewhere, and docs/api.md names exactly the routes the handlers' `#[utoipa::path]` annotations
# declare (the router and the OpenAPI document are both built from them). Prints each problem; exits 1 if there is any.
set -euo pipefail
cd "$(dirname "$0")/.."

problems=0
problem() { echo "$*" >&2; problems=$((problems + 1)); }

# GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
anchors() {
  sed -n 's/^#\{1,6\} \(.*\)$/\1/p' "$1" \
    | tr '[:upper:]' '[:lower:]' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

docs=$(git ls-files '*.md')
for doc in $docs; do
  dir=$(dirname "$doc")
  # Inline links outside code spans: ](target), where target is not a URL.
  for target in $(sed 's/`[^`]*`//g' "$doc" | grep -o '](\([^)]*\))' | sed 's/^](\(.*\))$/\1/' \
      | grep -v -E '^[a-z]+:' || true); do
    path=${target%%#*}
    anchor=""
    [[ "$target" == *"#"* ]] && anchor=${target#*#}
    file="$doc"
    if [[ -n "$path" ]]; then
      file="$dir/$path"
      [[ -e "$file" ]] || { problem "$doc: link to $target: no such file"; continue; }
    fi
    if [[ -n "$anchor" && "$file" == *.md ]] && ! anchors "$file" | grep -qx -- "$anchor"; then
      problem "$doc: link to $target: no heading with that anchor"
    fi
  done
done

# The routes, as the handlers declare them.
routes=$(grep -ho '#\[utoipa::path([a-z]*, path = "[^"]*"' functions/api/src/routes/*.rs functions/api/src/endpoints.rs \
  | sed 's/.*path = "\(.*\)"$/\1/' | sort -u)
for route in $routes; do
  grep -qF -- "$route" docs/api.md || problem "docs/api.md does not mention the route $route"
done
for doc in $docs; do
  for path in $(grep -o '/api/[A-Za-z0-9/{}_-]*[A-Za-z0-9}]\(/…\)\{0,1\}' "$doc" | sort -u || true); do
    if [[ "$path" == *"/…" ]]; then
      # A family of routes, written as a prefix.
      grep -q -- "^${path%…}" <<<"$routes" || problem "$doc mentions $path, which starts no route"
    else
      grep -qx -- "$path" <<<"$routes" || problem "$doc mentions $path, which is not a route"
    fi
  done
done

if ((problems > 0)); then
  echo "$problems documentation problem(s)" >&2
  exit 1
fi
echo "documentation: links, anchors and routes check out"
