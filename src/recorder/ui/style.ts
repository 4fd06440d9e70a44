/**
 * The recorder UI's style sheet, inlined in every page (one small request
 * less, and nothing to cache-bust).
 *
 * - Below 640 px each row of the table is a card (a grid: start and
 *   duration, status, who and pod, command) without its less important
 *   columns (`.opt`), and the table scrolls inside its own box
 *   (`.table-wrap`) if it must, so the page never scrolls sideways on a
 *   phone.
 * - The player box is as tall as the viewport below the title (at most a
 *   4:3 terminal's height, so a phone is not left with an empty band), and
 *   the player fits the terminal inside it (`fit: "both"`), so its control
 *   bar stays on screen whatever the terminal size.
 * - A live session's title has a "Live" badge (`#live-state`), "Ended" once
 *   its stream ends; the player's opaque "stream ended" overlay is then
 *   hidden, so the session's last screen stays in view.
 *
 * @module
 */

/**
 * The CSS.
 * @example
 * ```ts
 * import { UI_STYLE } from "./style.ts";
 * if (!UI_STYLE.includes(".table-wrap")) throw new Error();
 * ```
 */
export const UI_STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.6em 1em;display:flex;justify-content:space-between;align-items:center;gap:1em}
header a{color:#fff;text-decoration:none;font-weight:600}
header form{margin:0}
main{padding:1em;max-width:1200px;margin:auto}
form.filters{display:flex;flex-wrap:wrap;gap:.5em;margin-bottom:.3em;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#555}
form.filters input{box-sizing:border-box;width:9.5em}
form.filters input#q{width:17em}
form.filters input[type=date]{width:auto}
input,select,button{font:inherit;padding:.3em .4em}
.hint{font-size:12px;color:#555;margin:0 0 1em}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}
td code{font-size:12px;overflow-wrap:anywhere}
td small{color:#555}
td.dur{white-space:nowrap}
.partial{color:#b45309}.complete{color:#047857}.recording{color:#1d4ed8}.refused{color:#b91c1c}
nav.pages{display:flex;gap:1.5em;margin:1em 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;background:#fff;padding:1em;overflow-wrap:anywhere}
dt{color:#555}dd{margin:0}
.error{color:#b91c1c}
#live-state{font-size:.8em;font-weight:normal;padding:0 .4em;border:1px solid currentColor;border-radius:3px;margin-right:.3em}
#live-state.ended{color:#555}
h2.title a{font-size:.8em;font-weight:normal;margin-right:.5em}
#player.ended .ap-overlay-info{display:none}
.login{max-width:360px;margin:4em auto;background:#fff;padding:1.5em;border:1px solid #ddd}
h2.title{font-size:1.15em;margin:0 0 .5em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#player{height:min(calc(100vh - 8.5em),calc(75vw + 2.5em));min-height:12em}
@media (max-width:640px){
  main{padding:.5em}
  .opt{display:none}
  #recordings thead{display:none}
  #recordings,#recordings tbody{display:block}
  #recordings tr.rec{display:grid;grid-template-columns:minmax(0,1fr) auto;grid-template-areas:"when dur" "status status" "who pod" "cmd cmd";gap:.1em .8em;padding:.5em .3em;border-bottom:1px solid #ddd}
  #recordings td{border:0;padding:0}
  #recordings td.when{grid-area:when}#recordings td.dur{grid-area:dur}
  #recordings td.status{grid-area:status}#recordings td.who{grid-area:who}
  #recordings td.pod{grid-area:pod;text-align:right}#recordings td.cmd{grid-area:cmd}
  form.filters label{flex:1 1 9em}
  form.filters input,form.filters input#q,form.filters input[type=date]{width:100%}
  form.filters label.wide{flex-basis:100%}
}
`;
