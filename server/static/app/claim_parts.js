// The parts of the claim page (claim.js): the claim form with its live name preview and photo preview,
// and the test taker's notifications.
//
// The name is shown as text in <bdi dir="auto">, so an Arabic or Hebrew name lays out right to left, as the
// certificate prints it. The photo preview is an object URL of the chosen file (the page's policy admits
// blob: images for it); it is revoked as soon as another file is chosen or the form goes away.
//
// A photo the server would refuse for what the page can see first (over the size limit the shell states, not
// a JPEG or PNG, not readable as an image, under the smallest side or over the most pixels the shell states) is said beside the field at once and never sent; the server's
// refusal of the upload as a whole (413, 408, 400) is said there too.

import {useCallback, useEffect, useRef, useState} from "../vendor/preact/hooks.js";
import {ApiError} from "./api.js";
import {utcMinute} from "./format.js";
import {SHELL, UploadRefused, graphqlUpload, sentence} from "./holder.js";
import {html} from "./view.js";

const CLAIM = `mutation Claim($input: ClaimCertificateInput!) {
  claimCertificate(input: $input) { certificate { id status holderName submittedAt } errors { code message field } }
}`;
const MIN_SIDE = SHELL.photoMinSide || 300;
const MAX_BYTES = SHELL.photoMaxBytes || 10 * 1024 * 1024;
const MAX_PIXELS = SHELL.photoMaxPixels || 40_000_000;
const NAME_MAX = 100; // the field's maxlength, as the server's limit on holderName
const KB = 1024;
const MB = 1024 * 1024;
const NOT_AN_IMAGE = "This file is not an image the service accepts (JPEG or PNG).";
const UNREADABLE = "This photo cannot be read: the file may be damaged. Choose another one.";

/** A size as the server's messages say it (resolvers/wording.py, data_size): "512 KB", "30 MB", "more than 10 MB". */
export function dataSize(size) {
  if (size < KB) return `${size.toLocaleString("en-US")} ${size === 1 ? "byte" : "bytes"}`;
  const [unit, name] = size >= MB ? [MB, "MB"] : [KB, "KB"];
  const value = size / unit;
  const rounded = Math.round(value * 10) / 10;
  const text = `${rounded.toLocaleString("en-US", {maximumFractionDigits: 1})} ${name}`;
  return rounded < value ? `more than ${text}` : text;
}

/** A pixel count as the server's messages say it (resolvers/wording.py, megapixels): "48 megapixels". */
function megapixels(pixels) {
  const value = pixels / 1_000_000;
  const rounded = Math.round(value * 10) / 10;
  const text = `${rounded.toLocaleString("en-US", {maximumFractionDigits: 1})} megapixels`;
  return rounded < value ? `more than ${text}` : text;
}

/** Why the server would refuse a photo of ``width`` × ``height`` pixels ("" when it would not). */
function pixelProblem(width, height) {
  // In the server's words (resolvers/holder.py), so the field says the same before sending as after.
  const number = (value) => value.toLocaleString("en-US");
  if (Math.min(width, height) < MIN_SIDE) {
    return `The photo is ${number(width)}×${number(height)} pixels; each side must be at least ${number(MIN_SIDE)} pixels.`;
  }
  if (width * height > MAX_PIXELS) {
    return `The photo has too many pixels (${megapixels(width * height)}); at most ${megapixels(MAX_PIXELS)} are allowed.`;
  }
  return "";
}

/** Whether ``bytes`` (the file's first 8) open a JPEG or a PNG, the formats the server accepts. */
function acceptedFormat(bytes) {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) || png.every((byte, i) => bytes[i] === byte);
}

/**
 * What the page can tell of ``file`` before sending it: {problem, url, checking} (url: its preview; checking:
 * its pixels are still being counted: a claim sent meanwhile goes once they are, unless they are refused).
 */
function usePhotoCheck(file) {
  const [check, setFor] = useState({file: null, problem: "", url: "", checking: false});
  useEffect(() => {
    const setCheck = (found) => setFor({checking: false, ...found, file});
    setCheck({problem: "", url: "", checking: Boolean(file)});
    if (!file) return undefined;
    if (file.size > MAX_BYTES) {
      setCheck({problem: `The photo is ${dataSize(file.size)}; at most ${dataSize(MAX_BYTES)} is allowed.`, url: ""});
      return undefined;
    }
    let made = "";
    let current = true;
    file.slice(0, 8).arrayBuffer().then((buffer) => {
      if (!current) return;
      if (!acceptedFormat(new Uint8Array(buffer))) return setCheck({problem: NOT_AN_IMAGE, url: ""});
      made = URL.createObjectURL(file);
      setCheck({problem: "", url: made, checking: true});
      const image = new Image();
      image.onload = () => current && setCheck({problem: pixelProblem(image.naturalWidth, image.naturalHeight), url: made});
      image.onerror = () => current && setCheck({problem: UNREADABLE, url: ""});
      image.src = made;
    }, () => current && setCheck({problem: UNREADABLE, url: ""}));
    return () => {
      current = false;
      if (made) URL.revokeObjectURL(made);
    };
  }, [file]);
  const unreadable = useCallback(() => setFor((old) => ({...old, problem: UNREADABLE, url: "", checking: false})), []);
  if (check.file !== file) return {problem: "", url: "", checking: Boolean(file), unreadable}; // its effect is yet to run
  return {problem: check.problem, url: check.url, checking: check.checking, unreadable};
}

/** ``{holderName, photo, other}``: each error's message under the input field it names (errors[].field). */
function byField(errors) {
  const found = {holderName: [], photo: [], other: []};
  for (const error of errors) {
    const field = (error.field || []).at(-1);
    (field in found && field !== "other" ? found[field] : found.other).push(error.message);
  }
  return Object.fromEntries(Object.entries(found).map(([key, messages]) => [key, messages.join(" ")]));
}

function NamePreview({name, testName}) {
  const shown = name.trim().replace(/\s+/g, " ");
  return html`
    <figure class="name-preview" aria-labelledby="name-preview-caption">
      <figcaption id="name-preview-caption" class="hint">How your name will print</figcaption>
      <p class="preview-lead">This is to certify that</p>
      <p class="preview-name" id="name-preview"><bdi dir="auto" id="preview-name">${shown || "Your name"}</bdi></p>
      <p class="preview-lead">has passed <bdi dir="auto">${testName}</bdi></p>
    </figure>`;
}

function PhotoPreview({url, unreadable}) {
  const [measured, setSize] = useState(null);
  const size = measured?.url === url ? measured : null; // the image's load may come before any effect would run
  if (!url) {
    return html`<div class="photo-preview empty" id="photo-preview"><p>Your photo will show here.</p></div>`;
  }
  const small = size && Math.min(size.width, size.height) < MIN_SIDE;
  return html`
    <div class="photo-preview" id="photo-preview">
      <img id="photo-preview-image" src=${url} alt="The photo you chose"
        onLoad=${(event) => setSize({url, width: event.currentTarget.naturalWidth, height: event.currentTarget.naturalHeight})}
        onError=${unreadable} />
      <span class="crop-guide" aria-hidden="true"></span>
      ${size && html`<p class=${small ? "hint warning" : "hint"} id="photo-size">
        ${`${size.width} × ${size.height} pixels`}${small ? `: under ${MIN_SIDE} pixels on a side, it will be refused.` : "."}</p>`}
    </div>`;
}

function FieldError({id, message}) {
  return message ? html`<p class="field-error" id=${id}>${message}</p>` : null;
}

/** The claim: the name to print (previewed as it prints) and a photo; ``onClaimed(certificate)`` once sent. */
export function ClaimForm({sittingId, testName, resubmit, initialName, onClaimed}) {
  const [name, setName] = useState(initialName || "");
  const [cut, setCut] = useState(false); // what was typed or pasted did not all fit
  const [file, setFile] = useState(null);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState({holderName: "", photo: "", other: ""});
  const nameField = useRef(null);
  const photoField = useRef(null);
  const check = usePhotoCheck(file);
  const photoError = check.problem || errors.photo;
  const [queued, setQueued] = useState(false); // sent while the photo was still being checked
  const send = async () => {
    setBusy(true);
    setErrors({holderName: "", photo: "", other: ""});
    try {
      const data = await graphqlUpload(CLAIM, {input: {sittingId, holderName: name, photo: null}}, {"variables.input.photo": file});
      const payload = data.claimCertificate;
      if (payload.errors.length) {
        const found = byField(payload.errors);
        setErrors(found);
        (found.holderName ? nameField : found.photo ? photoField : {current: null}).current?.focus();
        return;
      }
      onClaimed(payload.certificate);
    } catch (error) {
      if (error instanceof UploadRefused) {
        setErrors({holderName: "", photo: sentence(`The photo could not be sent: ${error.message}`), other: ""});
        photoField.current?.focus();
      } else if (error.code !== "UNAUTHENTICATED") {
        setErrors({holderName: "", photo: "", other: error instanceof ApiError ? error.message : String(error)});
      }
    } finally {
      setBusy(false);
    }
  };
  // a claim sent while the photo's pixels are being counted goes as soon as they are, unless they are refused
  useEffect(() => {
    if (!queued || check.checking) return;
    setQueued(false);
    if (check.problem) photoField.current?.focus();
    else send();
  }, [queued, check.checking, check.problem]);
  const submit = (event) => {
    event.preventDefault();
    if (busy || queued) return;
    if (check.checking) setQueued(true);
    else if (check.problem) photoField.current?.focus();
    else send();
  };
  const atLimit = cut || name.length >= NAME_MAX;
  const described = (id, hint, error = errors[id]) => [hint, error && `${id}-error`].filter(Boolean).join(" ");
  return html`
    <form id="claim-form" class="claim-form" onSubmit=${submit}>
      <h2>${resubmit ? "Send your claim again" : "Your claim"}</h2>
      <div class="claim-field">
        <label for="holder-name">Name to print on the certificate</label>
        <input id="holder-name" ref=${nameField} name="holderName" type="text" dir="auto" required maxlength=${NAME_MAX}
          autocomplete="name" value=${name} aria-invalid=${errors.holderName ? "true" : undefined}
          aria-describedby=${described("holderName", atLimit ? "holder-name-hint holder-name-limit" : "holder-name-hint")}
          onBeforeInput=${(event) => {
            const field = event.currentTarget;
            const text = event.data ?? event.dataTransfer?.getData("text/plain") ?? "";
            const kept = field.value.length - Math.abs((field.selectionEnd ?? 0) - (field.selectionStart ?? 0));
            if (text) setCut(kept + text.length > NAME_MAX);
          }}
          onInput=${(event) => {
            setName(event.currentTarget.value);
            if (event.currentTarget.value.length < NAME_MAX) setCut(false);
            setErrors((old) => ({...old, holderName: ""}));
          }} />
        <p class="hint" id="holder-name-hint">Write it exactly as it should appear, in your own script if you like.</p>
        ${atLimit && html`<p class="hint warning" id="holder-name-limit" role="status">
          ${cut ? `Names are at most ${NAME_MAX} characters; the rest was not kept.` : `Names are at most ${NAME_MAX} characters.`}</p>`}
        <${FieldError} id="holderName-error" message=${errors.holderName} />
        <${NamePreview} name=${name} testName=${testName} />
      </div>
      <div class="claim-field">
        <label for="photo">Photo of yourself (JPEG or PNG)</label>
        <p class="hint" id="photo-hint">Head and shoulders, facing the camera, on a plain background; at least ${MIN_SIDE} pixels
          on each side and at most ${megapixels(MAX_PIXELS)}, up to ${dataSize(MAX_BYTES)}. Crop it so that your face fills the middle of the frame.</p>
        <input id="photo" ref=${photoField} name="photo" type="file" accept="image/jpeg,image/png" required
          aria-invalid=${photoError ? "true" : undefined} aria-describedby=${described("photo", "photo-hint", photoError)}
          onChange=${(event) => {
            setFile(event.currentTarget.files[0] || null);
            setErrors((old) => ({...old, photo: ""}));
          }} />
        <${FieldError} id="photo-error" message=${photoError} />
        <${PhotoPreview} url=${check.url} unreadable=${check.unreadable} />
      </div>
      <p class="hint">Our security team reviews every claim before the certificate is issued.</p>
      ${errors.other && html`<p class="notice error" role="alert" id="claim-error">${errors.other}</p>`}
      <div class="actions">
        <button type="submit" class="primary" disabled=${busy}>${busy ? "Sending…" : queued ? "Checking the photo…" : "Send my claim"}</button>
      </div>
    </form>`;
}

/**
 * The test taker's notifications, newest first: new are those not yet seen and those in ``fresh`` (arrived
 * while the page is open), read the others.
 */
export function Notifications({notifications, fresh}) {
  const isNew = (notification) => !notification.readAt || fresh.has(notification.id);
  const count = notifications.filter(isNew).length;
  return html`
    <section class="notifications" id="notifications" aria-labelledby="notifications-title">
      <h2 id="notifications-title">Your notifications${count ? html` <span class="badge">${count} new</span>` : ""}</h2>
      ${notifications.length
        ? html`<ul class="notification-list">
            ${notifications.map((notification) => html`
              <li key=${notification.id} class=${isNew(notification) ? "unread" : "read"}>
                <p class="notification-title"><bdi dir="auto">${notification.title}</bdi></p>
                <p class="notification-body" dir="auto">${notification.body}</p>
                <p class="hint">${utcMinute(notification.createdAt)}${isNew(notification) ? " · new" : ""}</p>
              </li>`)}
          </ul>`
        : html`<p class="hint">None yet.</p>`}
    </section>`;
}
