// Cookie-session login and logout, and who is logged in (GET /auth/me).
import { get, post } from "./api.js";
import { t } from "./i18n.js";

let me = null;
const listeners = [];

export function current() {
  return me;
}

export function onChange(listener) {
  listeners.push(listener);
}

function changed() {
  for (const listener of listeners) listener(me);
}

export async function refreshMe() {
  me = null;
  if (document.cookie.includes("cityos_csrf=")) {
    try {
      me = await get("/auth/me");
    } catch {
      me = null;
    }
  }
  changed();
  return me;
}

export async function login(username, password) {
  await post("/auth/login", { form: { username, password } });
  return refreshMe();
}

export async function logout() {
  try {
    await post("/auth/logout", { json: {} });
  } finally {
    me = null;
    changed();
  }
}

export function hasRole(...roles) {
  return Boolean(me && me.roles.some((role) => roles.includes(role)));
}

export function describe(user) {
  const roles = user.roles.map((role) => t(`role.${role}`)).join(", ");
  return t("auth.signedin", { name: user.display_name || user.name, roles });
}
