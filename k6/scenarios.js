// Load scenarios for the lab. No remote modules: nothing outside is reachable.
//
//   ab    (default) the incident's `ab -n 10000 -c 500`: shared-iterations,
//         VUS clients sharing ITERATIONS requests, no HTTP keep-alive
//         (ab speaks HTTP/1.0 without keep-alive). KEEPALIVE=1 turns it on.
//   ramp  a ramping arrival rate from RAMP_START to RAMP_TARGET requests/s
//         over RAMP_DURATION, to find the breaking point.
//
// Environment: TARGET (base URL), ENDPOINT (path), SCENARIO, VUS, ITERATIONS,
// KEEPALIVE, TLS_INSECURE, RAMP_*, RESULTS_DIR, START_AT. The run's record (variant, settings,
// versions) is written by churnlab from what it ran, not passed through k6.
import http from 'k6/http';
import { check, fail, sleep } from 'k6';

const TARGET = (__ENV.TARGET || 'http://app:8000').replace(/\/$/, '');
const ENDPOINT = __ENV.ENDPOINT || '/api/v1/healthz/';
const SCENARIO = __ENV.SCENARIO || 'ab';
const VUS = parseInt(__ENV.VUS || '500', 10);
const ITERATIONS = parseInt(__ENV.ITERATIONS || '10000', 10);
const KEEPALIVE = ['1', 'true', 'yes', 'on'].includes((__ENV.KEEPALIVE || '0').toLowerCase());
const RESULTS_DIR = __ENV.RESULTS_DIR || '/results';
// TLS_INSECURE=1: accept the lab front's self-signed certificate (FRONT=https).
const TLS_INSECURE = ['1', 'true', 'yes', 'on'].includes((__ENV.TLS_INSECURE || '0').toLowerCase());
// Status codes given their own counter in the summary; anything else is "other".
const TRACKED_STATUS = ['0', '200', '499', '500', '502', '503', '504'];
// START_AT (epoch seconds): several generators, each with its execution
// segment of the same run, begin together: setup() waits until then.
const START_AT = parseFloat(__ENV.START_AT || '0');

const SCENARIOS = {
  ab: {
    executor: 'shared-iterations',
    vus: VUS,
    iterations: ITERATIONS,
    maxDuration: __ENV.MAX_DURATION || '10m',
  },
  ramp: {
    executor: 'ramping-arrival-rate',
    startRate: parseInt(__ENV.RAMP_START || '50', 10),
    timeUnit: '1s',
    preAllocatedVUs: VUS,
    maxVUs: VUS,
    stages: [
      { target: parseInt(__ENV.RAMP_TARGET || '2000', 10), duration: __ENV.RAMP_DURATION || '60s' },
    ],
  },
};

if (!(SCENARIO in SCENARIOS)) {
  throw new Error(`unknown SCENARIO '${SCENARIO}'; valid: ${Object.keys(SCENARIOS).join(', ')}`);
}

// Submetrics are filtered on the scenario tag so setup()'s smoke request is
// not counted as load.
const thresholds = {
  // The pass/fail of a run: the incident's complaint was failed requests.
  [`http_req_failed{scenario:${SCENARIO}}`]: ['rate<0.01'],
  [`http_req_duration{scenario:${SCENARIO}}`]: ['p(95)<2000'],
  // Always-passing thresholds put these counts into the summary.
  [`http_reqs{scenario:${SCENARIO}}`]: ['count>=0'],
};
for (const code of TRACKED_STATUS) {
  thresholds[`http_reqs{scenario:${SCENARIO},status:${code}}`] = ['count>=0'];
}

export const options = {
  scenarios: { [SCENARIO]: SCENARIOS[SCENARIO] },
  thresholds,
  noConnectionReuse: !KEEPALIVE,
  insecureSkipTLSVerify: TLS_INSECURE,
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
  setupTimeout: '60s',
};

export function setup() {
  // Smoke check: the app answers without the DB before any load starts.
  const res = http.get(`${TARGET}/api/v1/ping/`, { timeout: '10s' });
  if (res.status !== 200) {
    fail(`smoke check failed: GET ${TARGET}/api/v1/ping/ answered ${res.status} ${res.error || ''}`);
  }
  const wait = START_AT - Date.now() / 1000;
  if (START_AT && wait > 0) {
    sleep(wait);
  }
  return { startedAt: new Date().toISOString() };
}

export default function () {
  const res = http.get(`${TARGET}${ENDPOINT}`, { timeout: __ENV.REQUEST_TIMEOUT || '60s' });
  check(res, { 'status is 200': (r) => r.status === 200 });
}

export function handleSummary(data) {
  data.lab = {
    target: TARGET,
    endpoint: ENDPOINT,
    scenario: SCENARIO,
    vus: VUS,
    iterations: SCENARIO === 'ab' ? ITERATIONS : null,
    keepalive: KEEPALIVE,
    tracked_status: TRACKED_STATUS,
    // Seconds from the load's start (after setup() and any START_AT wait) to now,
    // the end: several generators' rates are their counts over this, added up.
    load_seconds: data.setup_data && data.setup_data.startedAt
      ? (Date.now() - Date.parse(data.setup_data.startedAt)) / 1000 : null,
  };
  return {
    [`${RESULTS_DIR}/k6-summary.json`]: JSON.stringify(data, null, 2),
    stdout: `k6 summary written to ${RESULTS_DIR}/k6-summary.json\n`,
  };
}
