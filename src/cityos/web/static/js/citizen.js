// The citizen app: today's city (entry points later issues fill), registration, login and
// my account (consents, export of my data, account deletion).
import { del, get, hubHeaders, post } from "./api.js";
import * as auth from "./auth.js";
import * as i18n from "./i18n.js";
import { formatDateTime, formatNumber, t } from "./i18n.js";
import { meanPm25, pm25Grade } from "./kpi.js";
import * as theme from "./theme.js";

const SERVICES = ["complaints", "polls", "proposals", "er", "trip", "walking", "events"];
const PURPOSES = [{ purpose: "walking_rewards", version: "2026-1" }];
const $ = (id) => document.getElementById(id);

function route() {
  const view = location.hash === "#account" ? "account" : "home";
  for (const name of ["home", "account"]) {
    $(`view-${name}`).hidden = name !== view;
    const tab = $(`tab-${name}`);
    if (name === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
}

function services() {
  const list = $("services");
  list.replaceChildren(
    ...SERVICES.map((key) => {
      const li = document.createElement("li");
      const name = document.createElement("strong");
      name.textContent = t(`service.${key}`);
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("citizen.coming");
      li.append(name, badge);
      return li;
    }),
  );
}

async function airQuality() {
  let entities = [];
  try {
    const layers = await get("/web/layers");
    const query = layers.find((layer) => layer.id === "air-quality").query;
    entities = await get(`/ngsi-ld/v1/entities?type=${query.type}&options=keyValues&limit=1000`, {
      headers: hubHeaders(query, ""),
    });
  } catch {
    entities = [];
  }
  const aq = meanPm25(entities);
  const grade = aq ? pm25Grade(aq.mean) : null;
  const card = $("aq-card");
  card.className = `card${grade ? ` grade-${grade}` : ""}`;
  $("aq-grade").textContent = grade ? t(`grade.${grade}`) : "–";
  const detail = $("aq-detail");
  if (aq) {
    delete detail.dataset.i18n;
    detail.textContent = t("kpi.aq.detail", { count: formatNumber(aq.count), value: formatNumber(aq.mean, { maximumFractionDigits: 1 }) });
  } else {
    detail.dataset.i18n = "citizen.aq.none";
    detail.textContent = t("citizen.aq.none");
  }
}

async function consents() {
  const box = $("consents");
  let held = [];
  try {
    held = await get("/auth/me/consents");
  } catch (error) {
    box.textContent = error.message;
    return;
  }
  box.replaceChildren(
    ...PURPOSES.map(({ purpose, version }) => {
      const open = held.find((c) => c.purpose === purpose && !c.withdrawn_at);
      const row = document.createElement("div");
      row.className = "consent";
      row.id = `consent-${purpose}`;
      const text = document.createElement("span");
      text.textContent = `${t(`account.consent.${purpose}`)} — ${
        open ? t("account.consent.granted", { date: formatDateTime(open.granted_at) }) : t("account.consent.none")
      }`;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t(open ? "account.consent.withdraw" : "account.consent.grant");
      button.addEventListener("click", async () => {
        try {
          if (open) await del(`/auth/me/consents/${purpose}`);
          else await post("/auth/me/consents", { json: { purpose, version } });
        } catch (error) {
          $("account-status").textContent = error.message;
        }
        consents();
      });
      row.append(text, button);
      return row;
    }),
  );
}

function showAccount(me) {
  $("login-form").hidden = Boolean(me);
  $("register-form").hidden = true;
  $("account-panel").hidden = !me;
  if (!me) return;
  $("me-username").textContent = me.name;
  $("me-name").textContent = me.display_name || "";
  $("me-roles").textContent = me.roles.map((r) => t(`role.${r}`)).join(", ");
  consents();
}

function forms() {
  $("to-register").addEventListener("click", () => {
    $("login-form").hidden = true;
    $("register-form").hidden = false;
    $("register-username").focus();
  });
  $("to-login").addEventListener("click", () => {
    $("register-form").hidden = true;
    $("login-form").hidden = false;
    $("login-username").focus();
  });
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    try {
      await auth.login(form.username.value, form.password.value);
      form.reset();
      $("account-status").textContent = "";
    } catch (error) {
      $("login-error").textContent = `${t("auth.failed")} ${error.message}`;
    }
  });
  $("register-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    $("register-error").textContent = "";
    const body = { username: form.username.value, password: form.password.value };
    if (form.display_name.value.trim()) body.display_name = form.display_name.value.trim();
    try {
      await post("/auth/register", { json: body });
      $("login-username").value = body.username;
      form.reset();
      $("register-form").hidden = true;
      $("login-form").hidden = false;
      $("account-status").textContent = t("register.done");
      $("login-password").focus();
    } catch (error) {
      $("register-error").textContent = error.message;
    }
  });
  $("logout").addEventListener("click", () => auth.logout());
  $("export").addEventListener("click", async () => {
    try {
      const data = await get("/auth/me/data");
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `cityos-my-data-${new Date().toISOString().slice(0, 10)}.json`;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(link.href);
    } catch (error) {
      $("account-status").textContent = error.message;
    }
  });
  $("delete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("delete-error").textContent = "";
    const me = auth.current();
    if (!me || $("delete-confirm").value.trim() !== me.name) {
      $("delete-error").textContent = t("account.delete.mismatch");
      return;
    }
    try {
      await del("/auth/me");
      event.target.reset();
      await auth.refreshMe();
      $("account-status").textContent = t("account.deleted");
    } catch (error) {
      $("delete-error").textContent = error.message;
    }
  });
}

async function main() {
  theme.init();
  await i18n.init();
  const themeLabel = () => {
    $("theme-switch").textContent = t(theme.theme() === "dark" ? "theme.light" : "theme.dark");
  };
  themeLabel();
  theme.onChange(themeLabel);
  i18n.onChange(() => {
    themeLabel();
    services();
    airQuality();
    showAccount(auth.current());
  });
  services();
  forms();
  auth.onChange(showAccount);
  window.addEventListener("hashchange", route);
  route();
  await Promise.all([auth.refreshMe(), airQuality()]);
  document.body.dataset.ready = "yes";
}

main();
