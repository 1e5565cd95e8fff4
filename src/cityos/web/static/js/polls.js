// Citizen polls (#polls, #polls/<id>) and the home page's pulse question: open polls, voting
// (single, multiple, ranked by keyboard), live results over SSE, closed polls' exports.
import { get, post } from "./api.js";
import * as auth from "./auth.js";
import { formatNumber, lang, t } from "./i18n.js";
import { el, myResidence, pick, problemNote, residentProblem, seoulTime, zoneName, zones } from "./civic.js";

const $ = (id) => document.getElementById(id);
const streams = new Map(); // where → the EventSource feeding it (one per poll view and the pulse)

function stopStream(where) {
  streams.get(where)?.close();
  streams.delete(where);
}

// Follow a poll's results (GET …/live, `event: results`) into `render`; the stream is closed
// once the poll has closed (the server ends it, and the browser must not reconnect).
function follow(where, pollId, render, onError) {
  stopStream(where);
  const source = new EventSource(`/api/v1/polls/${encodeURIComponent(pollId)}/live`);
  streams.set(where, source);
  source.addEventListener("results", (event) => {
    const results = JSON.parse(event.data);
    render(results);
    if (results.state === "closed") stopStream(where);
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) onError?.();
  });
}

function share(value) {
  return formatNumber(value, { style: "percent", maximumFractionDigits: 1 });
}

// Result bars: one <progress> per option (votes of ballots), first preferences for ranked polls,
// then the instant-runoff rounds and the winner.
export function resultsView(results, options) {
  const label = (id) => pick(options.find((o) => o.id === Number(id)) || {}, "label");
  const box = el("div", { class: "results", "data-ballots": String(results.ballots), "data-state": results.state });
  const total = t("polls.results.ballots", { count: formatNumber(results.ballots) });
  box.append(el("p", { class: "ballots", text: results.state === "closed" ? `${t("polls.results.final")} · ${total}` : total }));
  if (results.kind === "ranked") box.append(el("p", { class: "hint", text: t("polls.results.first") }));
  const list = el("ul", { class: "bars" });
  for (const option of results.options) {
    const name = pick(option, "label");
    const id = `bar-${results.poll_id}-${option.id}`;
    list.append(
      el(
        "li",
        { "data-option": String(option.id) },
        el("span", { class: "bar-label", id, text: name }),
        el("progress", { max: Math.max(results.ballots, 1), value: option.votes, "aria-labelledby": id }),
        el("span", {
          class: "bar-count",
          text: t("polls.results.votes", { count: formatNumber(option.votes), share: share(option.share) }),
        }),
      ),
    );
  }
  box.append(list);
  if (results.kind === "ranked" && results.rounds?.length) {
    const ids = results.options.map((o) => o.id);
    const table = el(
      "table",
      { class: "data rounds" },
      el("caption", { text: t("polls.results.rounds") }),
      el(
        "thead",
        {},
        el("tr", {}, el("th", { scope: "col", text: t("polls.results.round") }), ids.map((id) => el("th", { scope: "col", text: label(id) })), el("th", { scope: "col", text: t("polls.results.exhausted") })),
      ),
      el(
        "tbody",
        {},
        results.rounds.map((round) =>
          el(
            "tr",
            {},
            el("th", { scope: "row", text: formatNumber(round.round) }),
            ids.map((id) => {
              const count = round.counts[id] ?? round.counts[String(id)];
              const out = round.eliminated === id ? ` (${t("polls.results.eliminated")})` : "";
              return el("td", { class: "num", text: count === undefined ? "–" : `${formatNumber(count)}${out}` });
            }),
            el("td", { class: "num", text: formatNumber(round.exhausted) }),
          ),
        ),
      ),
    );
    box.append(el("div", { class: "table-wrap" }, table));
  }
  if (results.winner) box.append(el("p", { class: "winner", text: t("polls.results.winner", { name: label(results.winner) }) }));
  else if (results.tied?.length) box.append(el("p", { class: "winner", text: t("polls.results.tied", { names: results.tied.map(label).join(", ") }) }));
  box.append(el("p", { class: "hint", text: t("polls.results.at", { time: seoulTime(results.computed_at) }) }));
  return box;
}

function kindText(poll) {
  if (poll.kind === "multiple") return t("polls.kind.multiple", { max: poll.max_choices });
  if (poll.kind === "ranked") return t("polls.kind.ranked", { max: poll.max_choices });
  return t("polls.kind.single");
}

function zonesText(poll, names) {
  if (!poll.zones.length) return t("polls.zones.all");
  return poll.zones.map((code) => zoneName(names, code)).join(", ");
}

// ---- the list ----

function pollItem(poll, names, home) {
  const badges = [];
  if (poll.zones.length) badges.push(el("span", { class: "badge", text: t("polls.zones.only", { zones: zonesText(poll, names) }) }));
  if (poll.zones.length && home && !poll.zones.includes(home.zone_code)) badges.push(el("span", { class: "badge warn", text: t("polls.zones.notmine") }));
  if (poll.has_voted) badges.push(el("span", { class: "badge done", text: t("polls.voted.badge") }));
  const when = poll.state === "closed" ? t("polls.closed.at", { time: seoulTime(poll.closes_at) }) : t("polls.closes", { time: seoulTime(poll.closes_at) });
  return el(
    "li",
    { class: "card poll-item", "data-poll": poll.id },
    el("h3", {}, el("a", { href: `#polls/${poll.id}`, text: pick(poll, "title") })),
    el("p", { class: "hint", text: `${kindText(poll)} · ${when}` }),
    badges.length ? el("p", { class: "row" }, badges) : null,
  );
}

async function list(body) {
  body.replaceChildren(el("p", { class: "hint", text: t("civic.loading") }));
  let open;
  let closed;
  try {
    [open, closed] = await Promise.all([get("/api/v1/polls?state=open"), get("/api/v1/polls?state=closed")]);
  } catch (error) {
    body.replaceChildren(el("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  const [home, names, problem] = await Promise.all([myResidence(), zones(), residentProblem()]);
  body.replaceChildren(
    problem ? problemNote(problem, "polls-note") : el("p", { class: "hint", id: "polls-note", text: t("polls.home", { zone: zoneName(names, home.zone_code) }) }),
    el("h3", { text: t("polls.open") }),
    open.items.length
      ? el("ul", { class: "plain", id: "polls-open" }, open.items.map((p) => pollItem(p, names, home)))
      : el("p", { class: "hint", id: "polls-open", text: t("polls.none") }),
    el("h3", { text: t("polls.closed") }),
    closed.items.length
      ? el("ul", { class: "plain", id: "polls-closed" }, closed.items.slice(0, 20).map((p) => pollItem(p, names, home)))
      : el("p", { class: "hint", id: "polls-closed", text: t("polls.none.closed") }),
  );
}

// ---- voting ----

function rankedBallot(poll, status) {
  const items = poll.options.map((o) => ({ ...o }));
  const listEl = el("ol", { class: "ranking", id: "ballot-ranking" });
  const draw = (focus) => {
    listEl.replaceChildren(
      ...items.map((option, index) => {
        const name = pick(option, "label");
        const rank = index < poll.max_choices ? t("polls.rank.n", { n: index + 1 }) : t("polls.rank.none");
        const move = (delta, key) =>
          el("button", {
            type: "button",
            class: "icon",
            "data-move": key,
            "aria-label": t(`polls.rank.${key}`, { name }),
            disabled: index + delta < 0 || index + delta >= items.length,
            text: key === "up" ? "↑" : "↓",
            on: {
              click: () => {
                [items[index], items[index + delta]] = [items[index + delta], items[index]];
                status.textContent = t("polls.rank.moved", { name, n: index + delta + 1 });
                draw({ id: option.id, key });
              },
            },
          });
        return el(
          "li",
          { "data-option": String(option.id) },
          el("span", { class: "rank", text: rank }),
          el("span", { class: "rank-name", text: name }),
          el("span", { class: "row" }, move(-1, "up"), move(1, "down")),
        );
      }),
    );
    if (focus) {
      const row = listEl.querySelector(`[data-option="${focus.id}"]`);
      const button = row.querySelector(`[data-move="${focus.key}"]`);
      (button.disabled ? row.querySelector("button:not([disabled])") : button)?.focus();
    }
  };
  draw(null);
  return { node: listEl, choices: () => items.slice(0, poll.max_choices).map((o) => o.id) };
}

function ballotForm(poll, onVoted) {
  const error = el("p", { class: "error", role: "alert", id: "ballot-error" });
  const moved = el("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const legend = el("legend", { text: t(`polls.ballot.${poll.kind}`, { max: poll.max_choices }) });
  let choices;
  let field;
  if (poll.kind === "ranked") {
    const ranked = rankedBallot(poll, moved);
    choices = ranked.choices;
    field = el("fieldset", { class: "ballot" }, legend, el("p", { class: "hint", id: "ranking-hint", text: t("polls.rank.hint", { max: poll.max_choices }) }), ranked.node, moved);
  } else {
    const type = poll.kind === "single" ? "radio" : "checkbox";
    field = el(
      "fieldset",
      { class: "ballot" },
      legend,
      poll.options.map((option) =>
        el("label", { class: "choice" }, el("input", { type, name: "choice", value: String(option.id) }), el("span", { text: pick(option, "label") })),
      ),
    );
    choices = () => [...field.querySelectorAll("input:checked")].map((input) => Number(input.value));
  }
  const form = el("form", { class: "card form", id: "ballot", novalidate: true }, field, error, el("button", { type: "submit", class: "primary", text: t("polls.vote") }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const picked = choices();
    if (!picked.length) {
      error.textContent = t("polls.ballot.empty");
      return;
    }
    if (picked.length > poll.max_choices) {
      error.textContent = t("polls.ballot.toomany", { max: poll.max_choices });
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const receipt = await post(`/api/v1/polls/${poll.id}/votes`, { json: { choices: picked } });
      onVoted(receipt);
    } catch (failure) {
      error.textContent = failure.message;
      button.disabled = false;
    }
  });
  return form;
}

// Why this user cannot vote in this poll now (a message), or null when they may.
async function voteProblem(poll, names) {
  if (poll.state === "closed") return { text: t("polls.state.closed", { time: seoulTime(poll.closes_at) }) };
  if (poll.state === "upcoming") return { text: t("polls.state.upcoming", { time: seoulTime(poll.opens_at) }) };
  if (poll.has_voted) return { text: t("polls.state.voted") };
  const problem = await residentProblem();
  if (problem) return { key: problem };
  const home = await myResidence();
  if (poll.zones.length && !poll.zones.includes(home.zone_code)) {
    return { text: t("polls.state.zone", { zones: zonesText(poll, names), mine: zoneName(names, home.zone_code) }) };
  }
  return null;
}

function resultsSection(poll, onClosed) {
  const section = el("section", { class: "card", id: "poll-results", "aria-labelledby": "poll-results-heading" }, el("h3", { id: "poll-results-heading", text: t("polls.results") }));
  const slot = el("div", { id: "poll-results-body", "aria-live": "polite" });
  section.append(slot);
  if (poll.state === "closed" || (poll.state === "open" && poll.live_results)) {
    slot.append(el("p", { class: "hint", text: t("civic.loading") }));
    follow("poll", poll.id, (results) => {
      slot.replaceChildren(resultsView(results, poll.options));
      // Closed while shown: redraw the page (closed message, exports) without a reload.
      if (results.state === "closed" && poll.state !== "closed") onClosed();
    });
    if (poll.state === "open") section.append(el("p", { class: "hint", text: t("polls.results.live") }));
  } else {
    slot.append(el("p", { class: "hint", text: t("polls.results.later", { time: seoulTime(poll.closes_at) }) }));
  }
  if (poll.state === "closed") {
    const base = `/api/v1/polls/${encodeURIComponent(poll.id)}`;
    section.append(
      el(
        "p",
        { class: "row", id: "poll-exports" },
        el("a", { href: `${base}/results.csv`, download: `poll-${poll.id}-results.csv`, text: t("polls.export.csv") }),
        el("a", { href: `${base}/results.json`, download: `poll-${poll.id}-results.json`, text: t("polls.export.json") }),
      ),
    );
  }
  return section;
}

async function detail(body, pollId, notice = null) {
  body.replaceChildren(el("p", { class: "hint", text: t("civic.loading") }));
  let poll;
  try {
    poll = await get(`/api/v1/polls/${encodeURIComponent(pollId)}`);
  } catch (error) {
    body.replaceChildren(el("p", {}, el("a", { href: "#polls", text: t("polls.back") })), el("p", { class: "error", role: "alert", text: error.message }));
    return;
  }
  const names = await zones();
  const problem = await voteProblem(poll, names);
  const state = el("div", { id: "poll-state" });
  if (notice) state.append(el("p", { class: "notice ok", role: "status", text: notice }));
  if (problem?.key) state.append(problemNote(problem.key, "poll-problem"));
  else if (problem) state.append(el("p", { class: "notice", id: "poll-problem", role: "status", text: problem.text }));
  else state.append(ballotForm(poll, (receipt) => detail(body, pollId, receipt[lang() === "ko" ? "message_ko" : "message"])));
  const description = pick(poll, "description");
  body.replaceChildren(
    el("p", {}, el("a", { href: "#polls", text: t("polls.back") })),
    el(
      "article",
      { class: "poll", id: "poll", "data-poll": poll.id, "aria-labelledby": "poll-title" },
      el("h3", { id: "poll-title", text: pick(poll, "title") }),
      description ? el("p", { class: "prose", id: "poll-description", text: description }) : null,
      el(
        "dl",
        { class: "account" },
        el("dt", { text: t("polls.kind") }),
        el("dd", { text: kindText(poll) }),
        el("dt", { text: t("polls.zones") }),
        el("dd", { id: "poll-zones", text: zonesText(poll, names) }),
        el("dt", { text: t("polls.opens") }),
        el("dd", { text: seoulTime(poll.opens_at) }),
        el("dt", { text: t("polls.closesat") }),
        el("dd", { id: "poll-closes", text: seoulTime(poll.closes_at) }),
      ),
      state,
      resultsSection(poll, () => detail(body, pollId)),
    ),
  );
}

// Show #polls or #polls/<id> in the polls view.
export function show(hash) {
  stopStream("poll");
  const body = $("polls-body");
  const id = decodeURIComponent(hash.split("/")[1] || "");
  return id ? detail(body, id) : list(body);
}

// The view was left: stop following its results.
export function leave() {
  stopStream("poll");
}

// ---- the pulse question on the home page ----

function pulseAnswered(card, poll, message) {
  const slot = el("div", { id: "pulse-results", "aria-live": "polite" });
  card.replaceChildren(
    el("h2", { id: "pulse-heading", text: t("pulse.title") }),
    el("p", { class: "pulse-question", text: pick(poll, "title") }),
    el("p", { class: "notice ok", role: "status", id: "pulse-thanks", text: message }),
    slot,
  );
  if (poll.live_results) follow("pulse", poll.id, (results) => slot.replaceChildren(resultsView(results, poll.options)));
  else slot.append(el("p", { class: "hint", text: t("polls.results.later", { time: seoulTime(poll.closes_at) }) }));
}

// The current one-question pulse survey (GET /api/v1/polls/pulse): answered with one tap, then
// its live share. The card is absent when logged out or when there is no question.
export async function pulse() {
  const card = $("pulse-card");
  stopStream("pulse");
  if (!auth.current()) {
    card.hidden = true;
    return;
  }
  let found;
  try {
    found = await get("/api/v1/polls/pulse");
  } catch {
    card.hidden = true;
    return;
  }
  const poll = found.poll;
  card.hidden = !poll;
  if (!poll) return;
  const error = el("p", { class: "error", role: "alert", id: "pulse-error" });
  const problem = await residentProblem();
  const question = el("p", { class: "pulse-question", id: "pulse-question", text: pick(poll, "title") });
  const parts = [el("h2", { id: "pulse-heading", text: t("pulse.title") }), question];
  if (problem) {
    parts.push(problemNote(problem, "pulse-problem"));
  } else if (poll.kind !== "single") {
    parts.push(el("p", {}, el("a", { href: `#polls/${poll.id}`, text: t("pulse.open") })));
  } else {
    const answers = el("div", { class: "pulse-answers", role: "group", "aria-labelledby": "pulse-question" });
    for (const option of poll.options) {
      answers.append(
        el("button", {
          type: "button",
          "data-option": String(option.id),
          text: pick(option, "label"),
          on: {
            click: async () => {
              error.textContent = "";
              for (const b of answers.querySelectorAll("button")) b.disabled = true;
              try {
                const receipt = await post(`/api/v1/polls/${poll.id}/votes`, { json: { choices: [option.id] } });
                pulseAnswered(card, poll, lang() === "ko" ? receipt.message_ko : receipt.message);
              } catch (failure) {
                error.textContent = failure.message;
                for (const b of answers.querySelectorAll("button")) b.disabled = false;
              }
            },
          },
        }),
      );
    }
    parts.push(answers);
  }
  parts.push(el("p", { class: "hint", text: t("polls.closes", { time: seoulTime(poll.closes_at) }) }), error);
  card.replaceChildren(...parts);
}
