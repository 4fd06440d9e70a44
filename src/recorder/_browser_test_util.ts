/**
 * A real-browser check of the recorder UI with Debian's Chromium and
 * `playwright-core`: log in as a viewer, filter by pod, open the session and
 * wait until the player shows the expected output. Reusable by end-to-end
 * tests that made the session through the proxy with real kubectl.
 *
 * @module
 */

import { type Browser, chromium, type Page } from "playwright-core";

/** Path of Debian's Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Launches headless Chromium.
 * @returns The browser; close it when done.
 */
export async function launchChromium(): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
    ],
  });
}

/** What {@linkcode viewRecordingInBrowser} checks. */
export interface ViewRecordingOptions {
  /** Recorder base URL (`http://…` or `https://…`, self-signed accepted). */
  baseUrl: string;
  /** A viewer token. */
  viewerToken: string;
  /** Pod to filter by (the session must be the first row). */
  pod: string;
  /** Text that must appear in the player's terminal. */
  expectText: string;
  /** A browser to reuse. @default a new one */
  browser?: Browser;
  /** Save a screenshot of the session page here. */
  screenshotPath?: string;
}

/** What the browser saw. */
export interface ViewRecordingResult {
  /** Status of the first `/ui` load without a cookie (expected 401). */
  anonymousStatus: number;
  /** Status after logging in with a wrong token (expected 401). */
  wrongTokenStatus: number;
  /** The session page URL. */
  sessionUrl: string;
  /** The player's terminal text at the end. */
  terminalText: string;
  /** The download link. */
  downloadHref: string;
}

// Evaluated in the page: the player's terminal text.
const TERMINAL_TEXT =
  `(document.querySelector(".ap-term, .ap-terminal")?.textContent ?? "")`;

async function terminalText(page: Page): Promise<string> {
  return await page.evaluate(TERMINAL_TEXT);
}

/**
 * Drives the UI like a person: missing credential refused, wrong token
 * refused, login, filter by pod, open the first session, see its output.
 * @param options Where and what.
 * @returns What was seen (assert on it).
 * @throws When a step cannot be done (no row, text never shown within 30 s).
 */
export async function viewRecordingInBrowser(
  options: ViewRecordingOptions,
): Promise<ViewRecordingResult> {
  const browser = options.browser ?? await launchChromium();
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    const anonymous = await page.goto(`${options.baseUrl}/ui`);
    const anonymousStatus = anonymous?.status() ?? 0;

    await page.fill("#token", "wrong-token-wrong-token");
    const [wrong] = await Promise.all([
      page.waitForNavigation(),
      page.click("#login"),
    ]);
    const wrongTokenStatus = wrong?.status() ?? 0;

    await page.fill("#token", options.viewerToken);
    await Promise.all([page.waitForNavigation(), page.click("#login")]);
    await page.waitForSelector("#recordings");

    await page.fill("#f-pod", options.pod);
    await Promise.all([page.waitForNavigation(), page.click("#apply")]);
    const link = page.locator("#recordings tr.rec a").first();
    await link.waitFor({ timeout: 10_000 });
    await Promise.all([page.waitForNavigation(), link.click()]);
    const sessionUrl = page.url();

    await page.waitForFunction(
      `(${TERMINAL_TEXT}).includes(${JSON.stringify(options.expectText)})`,
      undefined,
      { timeout: 30_000 },
    );
    if (options.screenshotPath) {
      await page.screenshot({ path: options.screenshotPath, fullPage: true });
    }
    return {
      anonymousStatus,
      wrongTokenStatus,
      sessionUrl,
      terminalText: await terminalText(page),
      downloadHref: await page.getAttribute("#download", "href") ?? "",
    };
  } finally {
    await context.close();
    if (!options.browser) await browser.close();
  }
}
