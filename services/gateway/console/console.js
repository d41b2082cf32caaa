// The operator console: reads /status and the analytics, supervision and directory APIs with
// the operator's token and shows them. Everything shown is text (textContent), never markup.

import { ApiError, claims, forgetToken, get, parseCsv, setToken, takeTokenFromFragment, token }
  from "./api.js";
import * as charts from "./charts.js";

const $ = (id) => document.getElementById(id);
const SERVICES = ["intake", "routing", "tracking", "evaluation"];
const NATIONAL = "000000";
const REFRESH_MS = 60_000;
const STATUS_NAMES = {
  received: "已登记", triage: "待分办", routed: "已转送", diverted: "诉访分离",
  linked_duplicate: "重复件", not_reaccepted: "不再受理", not_accepted: "不予受理",
  in_progress: "办理中", extended: "已延期", replied: "已答复", withdrawn: "已撤回",
  under_review: "复查中", review_replied: "已复查", under_rereview: "复核中",
  terminated: "已终结", closed: "已办结",
};

let labels = { categories: {} };
let timer = null;

// --- small helpers -------------------------------------------------------------------------

function chinaDay(daysBack = 0) {
  return new Date(Date.now() + 8 * 3600e3 - daysBack * 86400e3).toISOString().slice(0, 10);
}

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

function monday(day) {
  const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7;
  return addDays(day, -weekday);
}

/** The code prefix of everything inside a 6-digit region (as shared.regions.scope_prefix). */
function prefixOf(code) {
  if (code.endsWith("0000")) return code.slice(0, 2);
  if (code.endsWith("00")) return code.slice(0, 4);
  return code;
}

const pct = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`);
const number = (n) => (n === null || n === undefined ? "—" : String(n));
const categoryName = (code) => (code ? labels.categories[code] || code : "未分类");

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function setCounter(id, text, alert = false) {
  $(id).textContent = text;
  $(id).parentElement.classList.toggle("alert", alert);
}

function say(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

// --- scope: region and period ----------------------------------------------------------------

function scope() {
  const query = new URLSearchParams(window.location.search);
  const claimed = String(claims().region_code || "").slice(0, 6).padEnd(6, "0");
  const region = /^\d{6}$/.test(query.get("region") || "") ? query.get("region") : claimed;
  const days = Math.min(Math.max(Math.trunc(Number(query.get("days"))) || 30, 1), 3650);
  const granularity = days <= 90 ? "day" : "week";
  return { region: region === "000000" ? NATIONAL : region, days, granularity,
    from: chinaDay(days - 1), to: chinaDay(0) };
}

function showScope(s) {
  $("region").value = s.region;
  $("days").value = String(s.days);
  const c = claims();
  $("who").textContent = `${c.role || "?"} ${c.sub || ""}${c.region_code ? ` · ${c.region_code}` : ""}`;
}

// --- the panels --------------------------------------------------------------------------------

function renderHealth(body) {
  $("health-status").textContent = body.status === "ok" ? "正常 ok" : "异常 degraded";
  $("health-status").className = `badge ${body.status}`;
  const tbody = $("health").tBodies[0];
  tbody.replaceChildren();
  const dlq = Object.entries(body.dead_letters || {});
  const notes = [];
  const line = (name, status, database, consumer, outbox, dead) => {
    const row = tbody.insertRow();
    row.dataset.process = name;
    cell(row, name);
    cell(row, status === "up" ? "正常 up" : "异常 down", status);
    cell(row, database ?? "—", database === "down" ? "down" : "");
    cell(row, number(consumer?.lag), "num");
    cell(row, number(consumer?.parked), "num");
    cell(row, number(outbox), "num");
    cell(row, number(dead), "num");
  };
  line("gateway", body.gateway?.status);
  line("broker", body.broker?.status);
  if (body.broker?.bootstrap_servers) notes.push(`broker ${body.broker.bootstrap_servers}`);
  for (const name of SERVICES) {
    const s = body.services?.[name] || { status: "down", error: "not reported" };
    const topic = dlq.find(([t]) => t.endsWith(`.${name}.events.dlq`));
    line(name, s.status, s.database, s.consumer, s.outbox_backlog, topic ? topic[1] : null);
    if (s.error) notes.push(`${name}: ${s.error}`);
    if (s.breaker && s.breaker.state !== "closed") notes.push(`${name}: breaker ${s.breaker.state}`);
  }
  const checked = body.checked_at ? new Date(body.checked_at).toLocaleTimeString() : "";
  $("health-note").textContent = [`checked ${checked}`, ...notes].join(" · ");
}

function renderSummary(body) {
  setCounter("c-overdue", number(body.overdue.cases), body.overdue.cases > 0);
  setCounter("c-supervision", number(body.supervision.open));
  const late = body.supervision.response_overdue;
  setCounter("c-response-overdue", number(late), late > 0);
}

function renderScorecard(body) {
  const card = body.scorecards[0];
  setCounter("c-received", number(card.cases_received));
  setCounter("c-satisfaction", pct(card.satisfaction_rate));
  setCounter("c-on-time", pct(card.on_time_reply_rate));
}

function renderStatuses(body) {
  const tbody = $("statuses").tBodies[0];
  tbody.replaceChildren();
  const rows = Object.entries(body.by_status).sort((a, b) => b[1] - a[1]);
  for (const [status, n] of rows) {
    const row = tbody.insertRow();
    cell(row, `${STATUS_NAMES[status] || status} ${status}`);
    cell(row, String(n), "num");
  }
  const total = tbody.insertRow();
  cell(total, "合计 total");
  cell(total, String(body.total), "num");
}

function renderWarnings(items, regionName) {
  const tbody = $("warnings").tBodies[0];
  tbody.replaceChildren();
  for (const w of items) {
    const row = tbody.insertRow();
    cell(row, w.day);
    cell(row, regionName(w.region_code));
    cell(row, categoryName(w.category));
    cell(row, String(w.count), "num");
    cell(row, `${w.baseline_mean.toFixed(1)} ± ${w.baseline_sd.toFixed(1)}`, "num");
    cell(row, w.z_score.toFixed(1), "num");
  }
  $("warnings-empty").hidden = items.length > 0;
  setCounter("c-warnings", String(items.length), items.length > 0);
}

function when(value) {
  return value ? new Date(value).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai" }) : "—";
}

function renderReceptions(body) {
  const tbody = $("receptions").tBodies[0];
  tbody.replaceChildren();
  for (const r of body.items) {
    const row = tbody.insertRow();
    row.dataset.reception = r.id;
    cell(row, when(r.starts_at));
    cell(row, r.tracking_number);
    cell(row, (r.unit_ids || []).join(", "));
    const link = document.createElement("a");
    link.href = r.meeting_url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = "进入 join";
    row.insertCell().append(link);
  }
  $("receptions-empty").hidden = body.items.length > 0;
}

function renderChannels(body, counts) {
  const tbody = $("channels").tBodies[0];
  tbody.replaceChildren();
  for (const c of body.channels) {
    const row = tbody.insertRow();
    row.dataset.channel = c.code;
    cell(row, `${c.name} (${c.code})`);
    cell(row, String(c.priority), "num");
    cell(row, c.target_response_hours ? `${c.target_response_hours} h` : "—", "num");
    cell(row, when(c.closes_at));
    cell(row, number(counts.get(c.code) || 0), "num");
  }
  $("channels-empty").hidden = body.channels.length > 0;
}

/** Every period of the scope, with 0 where the situation has no petitions. */
function filledSeries(series, s) {
  const known = new Map(series.map((p) => [p.period, p.petitions]));
  const points = [];
  const step = s.granularity === "day" ? 1 : 7;
  let period = s.granularity === "day" ? s.from : monday(s.from);
  while (period <= s.to) {
    points.push({ period, petitions: known.get(period) || 0 });
    period = addDays(period, step);
  }
  return points;
}

/** Names of regions the situation did not name (warnings of a township, say), looked up once
 *  each in the directory, before rendering; `regionName` stays synchronous. */
function withRegionLookup(regionName) {
  const looked = new Map();
  const lookup = async (codes) => {
    const unknown = [...new Set(codes)].filter((c) => regionName(c) === c && !looked.has(c));
    await Promise.all(unknown.slice(0, 20).map(async (code) => {
      try {
        looked.set(code, (await get(`/api/v1/regions/${code}`, {}, { auth: false })).name);
      } catch {
        looked.set(code, code);
      }
    }));
  };
  const name = (code) => (regionName(code) !== code ? regionName(code) : looked.get(code) || code);
  name.lookup = lookup;
  return name;
}

async function renderSatisfaction(s, regionName) {
  const national = s.region === NATIONAL;
  const breakdown = national ? "children" : "units";
  const body = await get("/api/v1/analytics/scorecards",
    { region: s.region, from: s.from, to: s.to, breakdown });
  const rated = body.scorecards
    .filter((c) => c.satisfaction_rate !== null)
    .sort((a, b) => b.counts.rated - a.counts.rated)
    .slice(0, 15);
  const names = await Promise.all(rated.map(async (c) => {
    if (c.scope !== "unit") return c.name || regionName(c.id);
    try {
      return (await get(`/api/v1/units/${encodeURIComponent(c.id)}`, {}, { auth: false })).name;
    } catch {
      return c.id;
    }
  }));
  $("satisfaction-title").textContent = national
    ? "各省满意率 Satisfaction by province"
    : "各单位满意率 Satisfaction by unit";
  $("satisfaction-note").textContent = rated.length
    ? `${s.from} – ${s.to}，按受理日统计 (by day of receipt)`
    : "期间内尚无评价 No ratings in this period.";
  charts.satisfaction(rated.map((c, i) => ({
    name: names[i], rate: c.satisfaction_rate, rated: c.counts.rated,
  })));
}

async function renderSituation(s) {
  const params = { region: s.region, from: s.from, to: s.to, granularity: s.granularity };
  const [body, csv] = await Promise.all([
    get("/api/v1/analytics/situation", params),
    get("/api/v1/analytics/situation", params, { csv: true }),
  ]);
  const names = new Map([[body.region_code, body.name]]);
  for (const r of body.by_region) names.set(r.region_code, r.name);
  const regionName = (code) => names.get(code) || code;
  charts.volume(filledSeries(body.series, s));
  const cells = parseCsv(csv).map((r) => ({
    region: r.region_code, category: r.category, petitions: Number(r.petitions),
  }));
  charts.categoriesByRegion(cells, regionName, categoryName);
  document.title = `${body.name || "全国"} · 信访运行监控`;
  regionName.themes = new Map((body.themes || []).map((t) => [t.theme, t.petitions]));
  return regionName;
}

// --- loading -------------------------------------------------------------------------------

async function refresh() {
  const s = scope();
  showScope(s);
  document.body.dataset.state = "loading";
  for (const counter of document.querySelectorAll(".counter span")) setCounter(counter.id, "–");
  const area = { region: s.region, from: s.from, to: s.to };
  const prefix = s.region === NATIONAL ? null : prefixOf(s.region);
  const situation = renderSituation(s);
  const names = situation.catch(() => (code) => code).then(withRegionLookup);
  const tasks = {
    health: get("/status", {}, { auth: false, accept: [503] }).then(renderHealth),
    supervision: get("/api/v1/supervision/summary", { region: s.region }).then(renderSummary),
    scorecard: get("/api/v1/analytics/scorecards", area).then(renderScorecard),
    statuses: get("/api/v1/analytics/overview", { region_code: prefix }).then(renderStatuses),
    situation,
    receptions: get("/api/v1/receptions", { state: "upcoming", region: prefix ? s.region : null })
      .then(renderReceptions),
    channels: Promise.all([get("/api/v1/channels", { state: "open" }), situation])
      .then(([body, regionName]) => renderChannels(body, regionName.themes)),
    satisfaction: names.then((regionName) => renderSatisfaction(s, regionName)),
    warnings: Promise.all([get("/api/v1/analytics/warnings", area), names])
      .then(async ([body, regionName]) => {
        await regionName.lookup(body.items.map((w) => w.region_code));
        renderWarnings(body.items, regionName);
      }),
  };
  const results = await Promise.allSettled(Object.values(tasks));
  const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  report(failures);
  $("updated").textContent = `更新于 updated ${new Date().toLocaleString()} · ${s.from} – ${s.to}`;
  document.body.dataset.state = failures.length ? "error" : "ready";
}

function report(failures) {
  if (!failures.length) {
    say("");
    return;
  }
  const refused = failures.find((e) => e instanceof ApiError && e.status === 401);
  if (refused) {
    say(`令牌无效或已过期 (401): ${refused.message}. Paste a valid operator token.`);
    signOut();
    return;
  }
  const forbidden = failures.find((e) => e instanceof ApiError && e.status === 403);
  if (forbidden) {
    say(`无权查看 (403): ${forbidden.message}. This console needs an operator token` +
      " for this region.");
    return;
  }
  const first = failures[0];
  const where = first instanceof ApiError ? ` (${first.status || "no answer"} ${first.path})` : "";
  say(`部分数据未能加载 Some figures could not be loaded${where}: ${first.message}`);
}

function signOut(clear = true) {
  if (clear) forgetToken();
  clearInterval(timer);
  timer = null;
  $("board").hidden = true;
  $("scope").hidden = true;
  $("login").hidden = false;
  document.body.dataset.state = "signed-out";
}

function start() {
  $("login").hidden = true;
  $("board").hidden = false;
  $("scope").hidden = false;
  refresh();
  clearInterval(timer);
  timer = setInterval(() => document.hidden || refresh(), REFRESH_MS);
}

async function main() {
  takeTokenFromFragment();
  try {
    labels = await get("/console/labels.json", {}, { auth: false });
  } catch {
    // category codes are shown instead of names
  }
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("token").value);
    $("token").value = "";
    say("");
    start();
  });
  $("scope").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ region: $("region").value, days: $("days").value });
    history.replaceState(null, "", `${window.location.pathname}?${query}`);
    refresh();
  });
  $("signout").addEventListener("click", () => signOut());
  if (token()) start();
  else signOut(false);
}

main();
