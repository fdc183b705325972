#!/usr/bin/env bash
# Refresh the playground's third-party front-end code from the npm registry (no CDN, no
# build step): each package's shipped files, its licence and a VERSION note are copied into
# src/imagetune/playground/static/vendor/<package>/. Run with `make vendor`; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

# package@version  files to take from the package's tarball (relative to package/)
PACKAGES=(
  "img-comparison-slider@8.0.7 dist/index.js dist/index.js.map dist/styles.css"
)
DEST=src/imagetune/playground/static/vendor

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  name=${spec%@*}
  version=${spec##*@}
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$work/$name"
  tar -xzf "$work/$name-$version.tgz" -C "$work/$name"
  pkg="$work/$name/package"
  license=$(node -p "require('$pkg/package.json').license")
  rm -rf "${DEST:?}/$name"
  mkdir -p "$DEST/$name"
  for file in $files; do
    cp "$pkg/$file" "$DEST/$name/$(basename "$file")"
  done
  license_file="the package's own"
  if compgen -G "$pkg/LICEN[CS]E*" >/dev/null; then
    cp "$pkg"/LICEN[CS]E* "$DEST/$name/LICENSE"
  elif [ -f "scripts/licenses/$name.LICENSE" ]; then
    # The tarball ships no licence text; ours is the upstream repository's, at that tag.
    cp "scripts/licenses/$name.LICENSE" "$DEST/$name/LICENSE"
    license_file="the upstream repository's (the npm tarball has none)"
  else
    echo "$name@$version ships no licence file: add scripts/licenses/$name.LICENSE" >&2
    exit 1
  fi
  integrity=$(npm view --silent "$spec" dist.integrity)
  printf '%s %s\nlicense: %s (LICENSE: %s)\nfrom: npm registry (npm pack %s)\nintegrity: %s\nfiles: %s\n' \
    "$name" "$version" "$license" "$license_file" "$spec" "$integrity" "$files" \
    >"$DEST/$name/VERSION"
  echo "vendored $name $version ($license) into $DEST/$name"
done
