// Attachments: the files waiting above the composer — each uploaded as soon as it is
// picked or dropped, with a progress bar, a local preview of an image, the server's error
// when refused, and × to take it out — and the files of a message: an image's thumbnail
// (a click shows the whole image in a lightbox), any other file's name, size and a
// download button. Downloads need the token, so files come as Blobs shown through object
// URLs, revoked once their message is no longer shown.

import { fill, h } from "./dom.js";

/** The longest side of a thumbnail as shown, in CSS pixels. */
const THUMB_SIDE = 240;

/** A file size for people: `512 B`, `4.2 KB`, `12 MB`. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const [unit, name] = [[1024 ** 3, "GB"], [1024 ** 2, "MB"], [1024, "KB"]].find(([u]) => n >= u);
  const value = n / unit;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${name}`;
}

/** A message in short (the chat list, quotes): its text, else the names of its files. */
export function summary(m) {
  if (m.body || !m.attachments?.length) return m.body;
  return `📎 ${m.attachments.map((a) => a.name).join(", ")}`;
}

function revoke(url) {
  if (url) URL.revokeObjectURL(url);
}

/** The files waiting above the composer, per conversation, uploaded as soon as they are added. */
export class Uploads {
  /** `changed()`: the files waiting changed (the composer renders them again). */
  constructor(chat, { changed }) {
    this.chat = chat;
    this.changed = changed;
    /** conversation id → its files waiting (see `start`). */
    this.waiting = new Map();
    this.el = h("div", { class: "uploads", dataset: { test: "uploads" } });
    this.input = h("input", {
      type: "file",
      multiple: true,
      hidden: true,
      dataset: { test: "file-input" },
      onchange: () => {
        this.add(this.input.files);
        this.input.value = "";
      },
    });
    this.button = h("button", { type: "button", class: "ghost attach", title: "Attach files", "aria-label": "Attach files", dataset: { test: "attach" }, onclick: () => this.input.click() }, "📎");
  }

  /** The files waiting in a conversation (the open one by default). */
  list(id = this.chat.active) {
    return this.waiting.get(id) ?? [];
  }

  /** Whether a file of the conversation is still being uploaded. */
  busy(id) {
    return this.list(id).some((item) => !item.attachment && !item.error);
  }

  /** Starts uploading `files` (a FileList) for the open conversation. */
  add(files) {
    const id = this.chat.active;
    if (!id || !files.length) return;
    this.waiting.set(id, [...this.list(id), ...[...files].map((file) => this.start(id, file))]);
    this.changed();
  }

  /** One file waiting: its upload, and its row (kept, so the preview never reloads). */
  start(conversation, file) {
    const item = {
      conversation,
      name: file.name,
      preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
      attachment: null,
      error: "",
      bar: h("progress", { max: 1, value: 0, "aria-label": `uploading ${file.name}` }),
      errorEl: h("small", { class: "error", role: "alert", dataset: { test: "upload-error" } }),
    };
    item.el = this.row(item, file.size);
    const { done, abort } = this.chat.upload(file, (fraction) => (item.bar.value = fraction));
    item.abort = abort;
    done
      .then((attachment) => (item.attachment = attachment))
      .catch((err) => (item.error = err.message))
      .finally(() => this.settled(item));
    return item;
  }

  row(item, size) {
    return h(
      "div",
      { class: "upload", dataset: { test: "upload", name: item.name, state: "uploading" } },
      item.preview ? h("img", { class: "preview", src: item.preview, alt: "", dataset: { test: "upload-preview" } }) : h("span", { class: "file-icon" }, "📄"),
      h("span", { class: "grow" }, h("span", { class: "name" }, item.name), h("small", { class: "muted" }, bytes(size)), item.bar, item.errorEl),
      h("button", { type: "button", class: "ghost small", title: `Remove ${item.name}`, "aria-label": `Remove ${item.name}`, dataset: { test: "upload-remove" }, onclick: () => this.remove(item) }, "×"),
    );
  }

  /** Shows how the upload ended: ready to send, or the server's error. */
  settled(item) {
    item.abort = null;
    item.el.dataset.state = item.attachment ? "ready" : "failed";
    item.errorEl.textContent = item.error;
    this.changed();
  }

  /** Takes a file out (cancelling its upload if on its way). */
  remove(item) {
    item.abort?.();
    revoke(item.preview);
    this.waiting.set(item.conversation, this.list(item.conversation).filter((i) => i !== item));
    this.changed();
  }

  /** Takes the uploaded files of a conversation out, to send them. */
  take(id) {
    const ready = this.list(id).filter((item) => item.attachment);
    this.waiting.set(id, this.list(id).filter((item) => !item.attachment));
    this.changed();
    return ready;
  }

  /** Forgets files taken by a message (which holds them from then on, sent or refused). */
  forget(items) {
    items.forEach((item) => revoke(item.preview));
  }

  /** Shows the files waiting in the open conversation. */
  render() {
    fill(this.el, this.list().map((item) => item.el));
  }

  /** Makes `el` take files dropped on it. */
  dropZone(el) {
    const files = (event) => event.dataTransfer?.types.includes("Files");
    el.addEventListener("dragover", (event) => {
      if (!files(event)) return;
      event.preventDefault();
      el.classList.add("dropping");
    });
    el.addEventListener("dragleave", (event) => {
      if (!el.contains(event.relatedTarget)) el.classList.remove("dropping");
    });
    el.addEventListener("drop", (event) => {
      if (!files(event)) return;
      event.preventDefault();
      el.classList.remove("dropping");
      this.add(event.dataTransfer.files);
    });
  }
}

/** The files of the messages shown, and the lightbox that shows an image whole. */
export class AttachmentViews {
  /** `act(promise)` shows the error of a refused download. */
  constructor(chat, { act }) {
    this.chat = chat;
    this.act = act;
    /** attachment id → kind ("file" or "thumbnail") → the promise of its object URL. */
    this.urls = new Map();
    /** attachment id → its thumbnail, kept across renders (so it never reloads). */
    this.thumbs = new Map();
    this.lightbox = h("dialog", {
      class: "lightbox",
      dataset: { test: "lightbox" },
      onclick: (event) => event.target === this.lightbox && this.lightbox.close(),
    });
  }

  /** The files of a message, or null. */
  list(m) {
    if (m.deleted_at || !m.attachments?.length) return null;
    return h("div", { class: "attachments" }, m.attachments.map((a) => (a.thumbnail ? this.thumb(a) : this.file(a))));
  }

  thumb(a) {
    if (!this.thumbs.has(a.id)) this.thumbs.set(a.id, this.thumbView(a));
    return this.thumbs.get(a.id);
  }

  thumbView(a) {
    const [width, height] = [a.width ?? THUMB_SIDE, a.height ?? THUMB_SIDE];
    const scale = Math.min(1, THUMB_SIDE / Math.max(width, height));
    const img = h("img", { alt: a.name, width: Math.round(width * scale), height: Math.round(height * scale), dataset: { test: "thumbnail" } });
    const button = h(
      "button",
      { type: "button", class: "thumb", title: `${a.name} (${bytes(a.size)})`, dataset: { test: "attachment", name: a.name }, onclick: () => this.act(this.open(a)) },
      img,
    );
    this.url(a.id, "thumbnail").then(
      (url) => (img.src = url),
      (err) => fill(button, h("span", { class: "error small" }, `${a.name}: ${err.message}`)),
    );
    return button;
  }

  file(a) {
    return h(
      "div",
      { class: "file", dataset: { test: "attachment", name: a.name } },
      h("span", { class: "file-icon" }, "📄"),
      h("span", { class: "grow" }, h("span", { class: "name" }, a.name), h("small", { class: "size" }, bytes(a.size))),
      h("button", { type: "button", class: "small", title: `Download ${a.name}`, dataset: { test: "download" }, onclick: () => this.act(this.save(a)) }, "Download"),
    );
  }

  /** Saves the file under its name, through a link to its object URL. */
  async save(a) {
    h("a", { href: await this.url(a.id, "file"), download: a.name }).click();
  }

  /** Shows the whole image in the lightbox; closes it again if the image cannot be had. */
  async open(a) {
    const img = h("img", { alt: a.name, dataset: { test: "lightbox-image" } });
    const size = a.width ? `${a.width}×${a.height} · ${bytes(a.size)}` : bytes(a.size);
    fill(
      this.lightbox,
      h(
        "header",
        { class: "row" },
        h("span", { class: "grow" }, h("strong", { class: "name" }, a.name), h("small", { class: "muted" }, size)),
        h("button", { type: "button", class: "small", dataset: { test: "lightbox-download" }, onclick: () => this.act(this.save(a)) }, "Download"),
        h("button", { type: "button", class: "ghost", title: "Close", dataset: { test: "lightbox-close" }, onclick: () => this.lightbox.close() }, "×"),
      ),
      img,
    );
    this.lightbox.showModal();
    try {
      img.src = await this.url(a.id, "file");
    } catch (err) {
      this.lightbox.close();
      throw err;
    }
  }

  /** The object URL of an attachment's file or thumbnail, fetched once while its message is shown. */
  url(id, kind) {
    if (!this.urls.has(id)) this.urls.set(id, new Map());
    const urls = this.urls.get(id);
    if (!urls.has(kind)) {
      const url = this.chat.attachment(id, kind === "thumbnail").then((blob) => URL.createObjectURL(blob));
      // Not kept when it failed: the next try fetches it again.
      url.catch(() => urls.delete(kind));
      urls.set(kind, url);
    }
    return urls.get(kind);
  }

  /** Revokes the object URLs (and drops the thumbnails) of the files not in `messages`. */
  keep(messages) {
    const shown = new Set(messages.flatMap((m) => (m.deleted_at ? [] : (m.attachments ?? []).map((a) => a.id))));
    for (const [id, urls] of this.urls) {
      if (shown.has(id)) continue;
      for (const url of urls.values()) url.then(revoke, () => {});
      this.urls.delete(id);
      this.thumbs.delete(id);
    }
  }
}
