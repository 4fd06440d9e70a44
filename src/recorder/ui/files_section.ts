/**
 * The recording page's section on a `kubectl cp` session
 * (`views/copy_files.ts`): the files copied out of the pod, listed from the
 * stored stdout, or the size of a copy into the pod, whose content is
 * never recorded.
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { CopyFiles } from "../views/copy_files.ts";
import type { TarMember } from "../views/tar_listing.ts";

/**
 * A member's mode as `ls -l` shows it, with the octal bits.
 * @param m The member.
 * @returns E.g. `-rw-r--r-- 0644`.
 * @example
 * ```ts
 * import { modeText } from "./files_section.ts";
 * if (modeText({ type: "directory", mode: 0o755 }) !== "drwxr-xr-x 0755") throw new Error();
 * ```
 */
export function modeText(m: Pick<TarMember, "type" | "mode">): string {
  const kind = {
    file: "-",
    hardlink: "h",
    symlink: "l",
    chardev: "c",
    blockdev: "b",
    directory: "d",
    fifo: "p",
    other: "?",
  }[m.type] ?? "?";
  let bits = "";
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (m.mode >> shift) & 7;
    bits += (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (b & 1 ? "x" : "-");
  }
  return `${kind}${bits} ${(m.mode & 0o7777).toString(8).padStart(4, "0")}`;
}

/**
 * The section, or nothing when the session copied nothing.
 * @param files What the session copied.
 * @returns The HTML.
 */
export function filesSection(
  files: CopyFiles | undefined,
): HtmlEscapedString | Promise<HtmlEscapedString> | "" {
  if (!files) return "";
  if (files.direction === "upload") {
    return html`
      <section id="files">
        <h3>Copied into the pod</h3>
        <p id="copied-in">${files.stdinBytes !== undefined
          ? `Copied into the pod: ${files.stdinBytes} bytes (content not recorded).`
          : "Copied into the pod (content not recorded; this recording predates stdin byte counts)."}</p>
      </section>
    `;
  }
  if (files.resumedFrom !== undefined || !files.listing) {
    return html`
      <section id="files">
        <h3>Files copied out</h3>
        <p
          id="files-resumed">A resumed copy out of the pod (kubectl cp --retries): its stdout is the archive from byte ${files
            .resumedFrom ??
            0}, whose members began in the session before it, so it is not listed.</p>
      </section>
    `;
  }
  const l = files.listing;
  return html`<section id="files"><h3>Files copied out</h3>
<p id="files-summary">${l.memberCount} members, ${l.contentBytes} bytes of content, from ${l.bytes} bytes of stdout (told by the ${
    files.detectedBy.join(" and ")
  }).${
    l.listingTruncated ? ` Only the first ${l.members.length} are listed.` : ""
  }</p>
${l.problem ? html`<p id="files-problem" class="error">${l.problem}</p>` : ""}
<div class="table-wrap"><table id="files-table"><thead><tr><th>Path</th><th>Size</th><th>Mode</th><th>SHA-256</th></tr></thead>
<tbody>${
    l.members.map((m) =>
      html`
        <tr>
          <td>${m.path}${m.linkTarget !== undefined
            ? ` → ${m.linkTarget}`
            : ""}</td>
          <td>${m.size}</td>
          <td><code>${modeText(m)}</code></td>
          <td><code>${m.sha256 ?? (m.incomplete ? "(cut)" : "")}</code></td>
        </tr>
      `
    )
  }</tbody></table></div></section>`;
}
