// Shared start of the Node scenario runners (tests/e2e/client.mjs and
// tests/scaleout/scenarios.mjs): arguments, a watchdog, bounded waits, and
// the one JSON result line.
//
//   node <runner>.mjs <scenario> '<options as JSON>'

export const [scenarioName, rawOptions = "{}"] = process.argv.slice(2);
export const options = JSON.parse(rawOptions);

/** Print the result as the last stdout line and exit. */
export function finish(result, code = 0) {
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(code));
}

let defaultWaitMs = 10000;

/** Default wait and watchdog for this runner; options.waitMs/watchdogMs override. */
export function configure({ waitMs, watchdogMs }) {
  const watchdog = setTimeout(() => {
    finish({ fatal: `watchdog: scenario ${scenarioName} still running` }, 3);
  }, options.watchdogMs ?? watchdogMs);
  watchdog.unref();
  defaultWaitMs = options.waitMs ?? waitMs;
  return defaultWaitMs;
}

export function sleep(ms) {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}

/** Reject with a labelled error when `promise` takes longer than `ms`. */
export function withTimeout(promise, label, ms = defaultWaitMs) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Tell the test where the client stands: one "STEP <name> <json>" line. */
export function step(name, data = {}) {
  process.stdout.write(`STEP ${name} ${JSON.stringify(data)}\n`);
}

/** Poll a condition every 20 ms until it holds; reject after `ms`. */
export async function until(condition, label, ms = defaultWaitMs) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timeout after ${ms} ms: ${label}`);
    }
    await sleep(20);
  }
}
