// The local playground's chat page: what the user sends goes to /api/send and /api/press; the chat
// itself (every message the bot sends, edits or deletes) arrives live from /api/events (SSE).
"use strict";

const chat = document.getElementById("chat");
const empty = document.getElementById("empty");
const form = document.getElementById("composer");
const input = document.getElementById("text");
const fileInput = document.getElementById("file");
const menu = document.getElementById("menu");
const menuButton = document.getElementById("menu-button");
const toast = document.getElementById("toast");
const statusLine = document.getElementById("bot-status");
const ACTIONS = { typing: "typing…", upload_photo: "sending a photo…", upload_document: "sending a file…" };

let commands = [];
let menuItems = [];
let menuActive = -1;
let actionTimer = null;
let toastTimer = null;
let pinned = true; // the user is at the bottom of the chat: keep it there as messages and pictures arrive

// --- drawing messages ----------------------------------------------------------------------------
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function richText(text) {
  // Telegram makes /commands in a bot's text tappable: tapping one sends it.
  const span = el("div", "text");
  const parts = text.split(/(\/[A-Za-z0-9_]+)/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const cmd = el("span", "cmd", part);
      cmd.addEventListener("click", () => sendText(part));
      span.append(cmd);
    } else if (part) {
      span.append(document.createTextNode(part));
    }
  });
  return span;
}

function time(date) {
  const d = date ? new Date(date * 1000) : new Date();
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function size(bytes) {
  if (bytes >= 1048576) return (bytes / 1048576).toFixed(1) + " MB";
  if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
  return bytes + " B";
}

function render(message) {
  const node = el("div", "msg " + message.from);
  node.dataset.id = message.id;
  const bubble = el("div", "bubble");
  if (message.photo) {
    bubble.classList.add("has-photo");
    const img = el("img", "photo");
    img.src = message.photo;
    img.alt = message.from === "bot" ? "picture from the bot" : "your photo";
    img.addEventListener("click", () => window.open(message.photo, "_blank"));
    img.addEventListener("load", () => stickToBottom());  // a picture makes its message taller
    bubble.append(img);
  }
  if (message.document) {
    const link = el("a", "document");
    link.href = message.document.url;
    link.download = message.document.name;
    link.append(el("div", "icon", "⬇"));
    const about = el("div");
    about.append(el("div", "file-name", message.document.name), el("div", "file-size", size(message.document.size)));
    link.append(about);
    bubble.append(link);
  }
  if (message.text) bubble.append(richText(message.text));
  bubble.append(el("span", "meta", (message.edited ? "edited " : "") + time(message.date)));
  node.append(bubble);
  if (message.buttons && message.buttons.length) {
    const keyboard = el("div", "keyboard");
    for (const row of message.buttons) {
      const line = el("div", "row");
      for (const button of row) {
        const b = el("button", "", button.text);
        b.type = "button";
        b.addEventListener("click", () => (button.share ? share(b) : press(message.id, button.data, b)));
        line.append(b);
      }
      keyboard.append(line);
    }
    node.append(keyboard);
  }
  return node;
}

function nearBottom() {
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
}

function stickToBottom(force) {
  if (force || pinned) chat.scrollTop = chat.scrollHeight;
}

chat.addEventListener("scroll", () => { pinned = nearBottom(); });

function upsert(message) {
  const follow = pinned || message.from === "user";
  const node = render(message);
  const old = chat.querySelector(`.msg[data-id="${message.id}"]`);
  if (old) {
    old.replaceWith(node);
  } else {
    // Keep the chat in message-id order whatever order the events arrive in.
    const later = [...chat.querySelectorAll(".msg")].find((m) => Number(m.dataset.id) > message.id);
    chat.insertBefore(node, later || null);
  }
  empty.hidden = chat.querySelector(".msg") !== null;
  if (follow) stickToBottom(true);
}

function remove(id) {
  const old = chat.querySelector(`.msg[data-id="${id}"]`);
  if (old) old.remove();
  empty.hidden = chat.querySelector(".msg") !== null;
}

// --- notices from the bot ------------------------------------------------------------------------
function showToast(text) {
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 2500);
}

function showAlert(text) {
  document.getElementById("alert-text").textContent = text;
  document.getElementById("alert").showModal();
}

function showAction(action) {
  statusLine.textContent = ACTIONS[action] || "typing…";
  statusLine.classList.add("busy");
  clearTimeout(actionTimer);
  // Telegram shows a chat action for 5 s or until the next message.
  actionTimer = setTimeout(clearAction, 5000);
}

function clearAction() {
  statusLine.textContent = "bot";
  statusLine.classList.remove("busy");
}

// --- the live chat -------------------------------------------------------------------------------
function connect() {
  const events = new EventSource("/api/events");
  events.onmessage = (e) => {
    const event = JSON.parse(e.data);
    if (event.type === "hello") {
      chat.querySelectorAll(".msg").forEach((m) => m.remove());
      document.getElementById("bot-name").textContent = event.bot;
      commands = event.commands;
      event.messages.forEach(upsert);
      empty.hidden = event.messages.length > 0;
      stickToBottom(true);
    } else if (event.type === "message") {
      if (event.message.from === "bot") clearAction();
      upsert(event.message);
    } else if (event.type === "delete") {
      remove(event.id);
    } else if (event.type === "toast") {
      event.alert ? showAlert(event.text) : showToast(event.text);
    } else if (event.type === "action") {
      showAction(event.action);
    } else if (event.type === "commands") {
      commands = event.commands;
    }
  };
  events.onerror = () => { statusLine.textContent = "connecting…"; };
  events.onopen = () => clearAction();
}

// --- what the user does --------------------------------------------------------------------------
async function post(body) {
  const response = await fetch("/api/send", { method: "POST", body });
  if (!response.ok) showToast("Could not send: is `make run` still running?");
}

function sendText(text) {
  text = text.trim();
  if (!text) return;
  const body = new FormData();
  body.append("text", text);
  hideMenu();
  return post(body);
}

function sendFiles(files) {
  if (!files.length) return;
  const body = new FormData();
  for (const file of files) body.append("file", file, file.name);
  return post(body);
}

async function press(messageId, data, button) {
  if (!data) {
    showToast("This button works in Telegram only.");
    return;
  }
  button.disabled = true;
  try {
    const response = await fetch("/api/press", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message_id: messageId, data }),
    });
    if (!response.ok) showToast("That button is gone.");
  } finally {
    button.disabled = false;
  }
}

// Share (switch_inline_query_chosen_chat): in Telegram it opens a chat picker, then lists what the bot
// offers in inline mode. This page has no other chat, so it shows that list: the bot's real answer.
async function share(button) {
  button.disabled = true;
  try {
    const response = await fetch("/api/inline", { method: "POST" });
    if (!response.ok) {
      showToast("The bot did not answer the inline query.");
      return;
    }
    const answer = await response.json();
    const list = document.getElementById("share-list");
    list.replaceChildren();
    for (const result of answer.results) {
      const item = el("a", "share-item");
      item.href = result.photo;
      item.target = "_blank";
      const img = el("img");
      img.src = result.photo;
      img.alt = result.caption || "painting";
      item.append(img);
      if (result.caption) item.append(el("div", "caption", result.caption));
      list.append(item);
    }
    if (!answer.results.length) list.append(el("div", "share-none", answer.button || "Nothing to share yet."));
    document.getElementById("share").showModal();
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!menu.hidden && menuActive >= 0) {
    sendText("/" + menuItems[menuActive].command);
  } else {
    sendText(input.value);
  }
  input.value = "";
});

fileInput.addEventListener("change", () => {
  sendFiles([...fileInput.files]);
  fileInput.value = "";
});

chat.addEventListener("dragover", (e) => { e.preventDefault(); chat.classList.add("dragging"); });
chat.addEventListener("dragleave", () => chat.classList.remove("dragging"));
chat.addEventListener("drop", (e) => {
  e.preventDefault();
  chat.classList.remove("dragging");
  sendFiles([...e.dataTransfer.files]);
});

// --- the command menu (registered by the bot with setMyCommands) --------------------------------
function showMenu(filter) {
  menuItems = commands.filter((c) => ("/" + c.command).startsWith(filter || "/"));
  menu.replaceChildren();
  menuActive = filter && menuItems.length ? 0 : -1;
  if (!menuItems.length) {
    hideMenu();
    return;
  }
  menuItems.forEach((c, i) => {
    const item = el("div", "item" + (i === menuActive ? " active" : ""));
    item.setAttribute("role", "option");
    item.append(el("span", "c", "/" + c.command), el("span", "d", c.description));
    item.addEventListener("click", () => { sendText("/" + c.command); input.value = ""; });
    menu.append(item);
  });
  menu.hidden = false;
}

function hideMenu() {
  menu.hidden = true;
  menuActive = -1;
}

menuButton.addEventListener("click", () => (menu.hidden ? showMenu("") : hideMenu()));

input.addEventListener("input", () => {
  const value = input.value;
  if (value.startsWith("/") && !value.includes(" ")) showMenu(value);
  else hideMenu();
});

input.addEventListener("keydown", (e) => {
  if (menu.hidden || !menuItems.length) return;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const step = e.key === "ArrowDown" ? 1 : -1;
    menuActive = (menuActive + step + menuItems.length) % menuItems.length;
    [...menu.children].forEach((item, i) => item.classList.toggle("active", i === menuActive));
  } else if (e.key === "Escape") {
    hideMenu();
  }
});

document.addEventListener("click", (e) => {
  // Not for clicks in the composer: Enter "clicks" the send button, which must send the chosen command.
  if (!menu.hidden && !menu.contains(e.target) && !form.contains(e.target)) hideMenu();
});

connect();
