/**
 * The `asciinema-player` browser bundle, embedded as text from the npm
 * package so the recorder serves it itself (no CDN). A text import works
 * under `deno run` with `nodeModulesDir: none` (Deno reads it from its npm
 * cache) and in `deno compile` binaries (it is embedded in the module graph).
 *
 * @module
 */

import js from "asciinema-player/dist/bundle/asciinema-player.min.js" with {
  type: "text",
};
import css from "asciinema-player/dist/bundle/asciinema-player.css" with {
  type: "text",
};

/** `asciinema-player.min.js`: defines the global `AsciinemaPlayer.create`. */
export const PLAYER_JS: string = js;
/** `asciinema-player.css`. */
export const PLAYER_CSS: string = css;
