// The console's entry point: sign-in, the views (#ask, #requests, #request/<id>) and their wiring.
// No data is in the page: a visitor without a key sees the sign-in form and nothing else.

import { ApiError, apiJson, session } from "./api.js";
import { cityLabel, initAsk, loadAsk, resetAsk } from "./ask.js";
import { $, $$, clearErrors, setFieldError, showMessage } from "./dom.js";
import { initEmployees } from "./employees.js";
import { hideRequestLineage, showRequestLineage, showTableLineage } from "./lineage.js";
import { hideResult, initSee, showResult } from "./see.js";
import { follow, initRequestList, renderTimeline } from "./watch.js";

const VIEWS = ["sign-in", "ask", "requests", "request", "table", "employees"];
const cities = new Map();
let current = null; // the request on screen
let work = new AbortController(); // cancels the polling and loading of the view left

const cityName = (id) => (cities.has(id) ? cityLabel(cities.get(id)) : `City ${id}`);

function notice(message) {
  showMessage($("#notice"), message);
}

function showView(name) {
  for (const view of VIEWS) $(`#view-${view}`).hidden = view !== name;
  $("#nav").hidden = name === "sign-in";
  for (const link of $$("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${$(`#view-${name} h1`).textContent.trim()} · climatelake console`;
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) return; // signed out already
  notice(error instanceof ApiError ? `${error.title}: ${error.detail}` : String(error));
}

async function loadCities() {
  if (cities.size) return;
  const answer = await apiJson("/v1/cities");
  for (const city of answer.cities) cities.set(city.city_id, city);
}

async function openRequest(requestId, first) {
  current = requestId;
  $("#request-id").textContent = requestId;
  hideResult();
  hideRequestLineage();
  showView("request");
  renderTimeline(first || { status: "accepted", timeline: [] });
  const signal = work.signal;
  loadCities().catch(() => {}); // names for the labels; ids do without
  const record = await follow(requestId, renderTimeline, signal);
  if (!record || signal.aborted) return;
  const lineage = showRequestLineage(requestId).catch(failed); // beside the result, not after it
  if (record.status === "succeeded") await showResult(requestId, cityName, signal);
  await lineage;
}

async function route() {
  work.abort();
  work = new AbortController();
  notice("");
  if (!session.key) {
    showView("sign-in");
    return;
  }
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  try {
    if (name === "request" && rest.length) {
      await openRequest(decodeURIComponent(rest.join("/")), history.state?.accepted);
    } else if (name === "requests") {
      showView("requests");
      await requestList.show();
    } else if (name === "table" && rest.length) {
      showView("table");
      await showTableLineage(decodeURIComponent(rest.join("/")));
    } else if (name === "employees") {
      showView("employees");
      await employees.show();
    } else {
      showView("ask");
      await loadAsk();
    }
  } catch (error) {
    failed(error);
  }
}

function signOut(message = "") {
  work.abort();
  session.signOut();
  cities.clear();
  resetAsk();
  hideResult();
  hideRequestLineage();
  $("#api-key").value = "";
  showView("sign-in");
  notice(message);
  $("#api-key").focus();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const key = $("#api-key").value.trim();
  if (!key) {
    setFieldError("api-key", "Enter an API key (clk_…) or a bearer token.");
    $("#api-key").focus();
    return;
  }
  try {
    await apiJson("/v1/requests?limit=1", { key }); // any reader may list their own requests
  } catch (error) {
    setFieldError("api-key", error instanceof ApiError ? error.detail : String(error));
    $("#api-key").focus();
    return;
  }
  session.signIn(key);
  $("#api-key").value = "";
  if (!location.hash || location.hash === "#sign-in") location.hash = "#ask";
  else route();
  $("#main").focus();
}

const requestList = initRequestList();
const employees = initEmployees();

initAsk((accepted) => {
  history.pushState({ accepted }, "", `#request/${encodeURIComponent(accepted.request_id)}`);
  route(); // shows the request's view at once, then follows it
  $("#main").focus(); // a screen reader starts on the new view, not on the form left behind
});
initSee(() => current);
$("#sign-in-form").addEventListener("submit", signIn);
$("#sign-out").addEventListener("click", () => signOut("Signed out: the key is forgotten."));
document.addEventListener("climatelake:unauthorized", () => signOut("The key was refused; sign in again."));
window.addEventListener("hashchange", route);
route();
