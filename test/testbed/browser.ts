/**
 * A real browser for tests: Debian's chromium, driven by playwright-core, opening a local file and recording what
 * a user would not see: console errors, uncaught page errors and every request the page makes. Used to check
 * that the HTML report draws its plot and reaches nothing outside itself.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireExecutables } from './prerequisites.ts';

export const CHROMIUM = '/usr/bin/chromium';

/** A file open in its own headless browser, with what the page did so far. */
export interface OpenedFile {
  page: Page;
  /** The file:// URL the page was opened at. */
  url: string;
  /** Console messages of type error, including the browser's own (a blocked request, a CSP violation). */
  consoleErrors: string[];
  /** Uncaught exceptions thrown in the page. */
  pageErrors: string[];
  /** Every request the page made, the file's own navigation included, as URLs. */
  requests: string[];
  /** A full-page PNG at `path` (its directory is made). */
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Throws PrerequisiteError (naming the Debian package) when chromium is not installed. */
export async function requireChromium(): Promise<void> {
  await requireExecutables({ [CHROMIUM]: 'chromium' });
}

/**
 * Opens `path` in a fresh headless chromium and waits for its load event. The listeners are attached before the
 * navigation, so nothing the page does while loading goes unrecorded.
 */
export async function openFile(path: string, viewport = { width: 1100, height: 900 }): Promise<OpenedFile> {
  await requireChromium();
  // No sandbox: the tests run as root, where chromium refuses to start with it.
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport });
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => requests.push(request.url()));
    const url = pathToFileURL(path).href;
    await page.goto(url, { waitUntil: 'load' });
    return {
      page, url, consoleErrors, pageErrors, requests,
      async screenshot(target: string) {
        await mkdir(dirname(target), { recursive: true });
        await page.screenshot({ path: target, fullPage: true });
      },
      close: () => browser.close(),
    };
  } catch (error) {
    await browser.close();
    throw error;
  }
}
