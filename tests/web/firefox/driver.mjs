// Drives stock Firefox over WebDriver BiDi (puppeteer-core) for tests/web/test_pages_in_firefox.py.
//
//   node tests/web/firefox/driver.mjs [FIREFOX]      (default /usr/bin/firefox-esr)
//
// One JSON command a line on stdin, one JSON answer a line on stdout, in order:
//   {"id": 1, "cmd": "open", "page": "admin", "width": 1280, "height": 800}
//   {"id": 1, "ok": true, "value": ...}  or  {"id": 1, "ok": false, "error": "..."}
// Before the first command it answers {"id": 0, "ok": true, "value": "firefox/<version>"} once Firefox is up.
// Each page is a tab in a browser context of its own. From before its first script, every page records its
// console errors, uncaught errors, failed requests and `securitypolicyviolation` events; `problems` returns
// them. Commands: open, goto, waitFor, evaluate, fill, click, upload, screenshot, problems, close. Selectors
// are CSS; `evaluate` and `waitFor` take a JavaScript expression.
import {createInterface} from 'node:readline';
import puppeteer from 'puppeteer-core';

const WATCH_POLICY = `
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => cspViolations.push(\`\${e.effectiveDirective} \${e.blockedURI}\`));
`;
const TIMEOUT = 30_000;

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.argv[2] || '/usr/bin/firefox-esr',
  protocol: 'webDriverBiDi',
  headless: true,
  // puppeteer's fresh profile each run (its automation prefs), and no update checks
  extraPrefsFirefox: {'app.update.enabled': false, 'browser.shell.checkDefaultBrowser': false},
});
const pages = new Map();

function page(name) {
  const entry = pages.get(name);
  if (!entry) throw new Error(`no page named ${name}`);
  return entry.page;
}

const commands = {
  async open({page: name, width, height}) {
    const context = await browser.createBrowserContext();
    const tab = await context.newPage();
    tab.setDefaultTimeout(TIMEOUT);
    await tab.setViewport({width, height});
    await tab.evaluateOnNewDocument(WATCH_POLICY);
    const problems = [];
    tab.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    tab.on('pageerror', (error) => problems.push(`page error: ${error.message ?? error}`));
    tab.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));
    pages.set(name, {page: tab, context, problems});
    return null;
  },
  async goto({page: name, url}) {
    await page(name).goto(url, {waitUntil: 'load'});
    return null;
  },
  async waitFor({page: name, expression, timeout}) {
    const tab = page(name);
    try {
      await tab.waitForFunction(expression, {timeout: timeout ?? TIMEOUT, polling: 50});
    } catch (error) {
      // say what the page shows and what went wrong in it, so that a failure explains itself
      const shown = await tab.evaluate('document.body?.innerText ?? ""').catch(() => '');
      throw new Error(`${error.message} waiting for ${expression}; the page shows ${JSON.stringify(shown.slice(0, 1500))};`
        + ` its problems: ${JSON.stringify(pages.get(name).problems)}`);
    }
    return null;
  },
  async evaluate({page: name, expression}) {
    return page(name).evaluate(expression);
  },
  async fill({page: name, selector, value}) {
    await page(name).locator(selector).fill(value);
    return null;
  },
  async click({page: name, selector}) {
    // (a locator's click also waits for the element to stop moving, which costs seconds on a live page)
    const element = await page(name).waitForSelector(selector, {visible: true});
    await element.click();
    await element.dispose();
    return null;
  },
  async upload({page: name, selector, path}) {
    const input = await page(name).waitForSelector(selector);
    await input.uploadFile(path);
    return null;
  },
  async screenshot({page: name, path}) {
    await page(name).screenshot({path});
    return path;
  },
  async problems({page: name}) {
    const entry = pages.get(name);
    const csp = await entry.page.evaluate('window.cspViolations ?? ["the policy watcher did not run"]');
    return {console: entry.problems, csp};
  },
  async close({page: name}) {
    await pages.get(name)?.context.close();
    pages.delete(name);
    return null;
  },
};

function answer(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

answer({id: 0, ok: true, value: await browser.version()});
const lines = createInterface({input: process.stdin});
try {
  for await (const line of lines) {
    if (!line.trim()) continue;
    const {id, cmd, ...args} = JSON.parse(line);
    try {
      if (!(cmd in commands)) throw new Error(`unknown command ${cmd}`);
      answer({id, ok: true, value: (await commands[cmd](args)) ?? null});
    } catch (error) {
      answer({id, ok: false, error: `${cmd}: ${error?.message ?? error}`});
    }
  }
} finally {
  await browser.close();
}
