/**
 * The SPDY/3 header-compression dictionary: the preset zlib dictionary of
 * every SYN_STREAM, SYN_REPLY and HEADERS header block.
 *
 * Source: SPDY Protocol Draft 3, §2.6.10.1 "Compression"
 * (https://www.chromium.org/spdy/spdy-protocol/spdy-protocol-draft3/), the
 * same bytes as `spdy/dictionary.go` of `github.com/moby/spdystream`, which
 * client-go and the kubelet use. The dictionary is a list of
 * length-prefixed (32-bit big-endian) words followed by plain text; it must
 * be byte-exact, because the zlib stream announces its Adler-32 (DICTID
 * `0xe3c6a7c2`) and the peer's inflater refuses any other dictionary.
 *
 * @module
 */

/** Words of the dictionary's first part, each written with a 32-bit length. */
const WORDS = (
  "options|head|post|put|delete|trace|accept|accept-charset|" +
  "accept-encoding|accept-language|accept-ranges|age|allow|" +
  "authorization|cache-control|connection|content-base|" +
  "content-encoding|content-language|content-length|" +
  "content-location|content-md5|content-range|content-type|date|" +
  "etag|expect|expires|from|host|if-match|if-modified-since|" +
  "if-none-match|if-range|if-unmodified-since|last-modified|" +
  "location|max-forwards|pragma|proxy-authenticate|" +
  "proxy-authorization|range|referer|retry-after|server|te|trailer|" +
  "transfer-encoding|upgrade|user-agent|vary|via|warning|" +
  "www-authenticate|method|get|status|200 OK|version|HTTP/1.1|url|" +
  "public|set-cookie|keep-alive|origin"
).split("|");

/** The dictionary's second part: plain text without length prefixes. */
const TEXT = "100101201202205206300302303304305306307" +
  "402405406407408409410411412413414415416417502504505" +
  "203 Non-Authoritative Information204 No Content" +
  "301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden" +
  "404 Not Found500 Internal Server Error501 Not Implemented" +
  "503 Service Unavailable" +
  "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 " +
  "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT" +
  "chunked,text/html,image/png,image/jpg,image/gif,application/xml," +
  "application/xhtml+xml,text/plain,text/javascript,publicprivate" +
  "max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

function build(): Uint8Array {
  const enc = new TextEncoder();
  const parts: number[] = [];
  for (const word of WORDS) {
    const bytes = enc.encode(word);
    const n = bytes.length;
    parts.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    parts.push(...bytes);
  }
  parts.push(...enc.encode(TEXT));
  return new Uint8Array(parts);
}

/**
 * The SPDY/3 header-compression dictionary (1423 bytes). Treat as read-only.
 */
export const SPDY3_DICTIONARY: Uint8Array = build();

/** Adler-32 of {@linkcode SPDY3_DICTIONARY}: the DICTID in the zlib header. */
export const SPDY3_DICTIONARY_ID = 0xe3c6a7c2;
