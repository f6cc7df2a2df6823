// The account in the browser, against a real two-node cluster (helpers.js): Quinn's
// settings on her phone (390 px, node B) — a new display name and avatar, shown in her
// header and to Rosa (laptop, node A) beside Quinn's name and messages; the privacy
// settings; her devices, one logged out from the list and then all the others; a new
// password, which logs the other devices out; the download of her data; and the deletion
// of her account, after which Rosa sees "Deleted user". And "Log out" ends the session on
// the server. Screenshots go to artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { api, apiOk, befriend } from "../js/lib/confab.js";
import {
  LAPTOP,
  PASSWORD,
  PHONE,
  REGISTER_WITHIN_MS,
  eventually,
  fits,
  gone,
  harness,
  loaded,
  login,
  openPage,
  png,
  register,
  see,
  shot,
  signInPage,
  skip,
  stepper,
  storedSession,
  useCluster,
} from "./helpers.js";

useCluster();

const NEW_PASSWORD = "staple battery horse correct";

/** The settings' device row of the session `id`, or a selector inside it. */
function device(id, inside = "") {
  return `[data-test=device][data-session='${id}'] ${inside}`.trim();
}

/** Opens the settings from the header; resolves once the devices are listed. */
async function openSettings(page) {
  await page.click("[data-test=settings-open]");
  await see(page, "[data-test=device][data-current=true] [data-test=this-device]");
}

/** Whether the server refuses `token` because its session was ended. */
async function revoked(node, token) {
  const { status, body } = await api(node, "GET", "/api/v1/me", { token });
  return status === 401 && body.error.code === "session_revoked";
}

test("the settings on a phone: profile and avatar, privacy, devices, password, export, and deleting the account", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [rosa, quinn] = await Promise.all([register(nodeA, "rosa", "Rosa"), register(nodeA, "quinn", "Quinn")]);
  await befriend(nodeA, rosa, quinn);
  const { group } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: rosa.token, body: { name: "Garden", members: [quinn.user.id] } }, 201);
  const post = (to, body) => apiOk(nodeA, "POST", "/api/v1/messages", { token: quinn.token, body: { to, body, client_msg_id: body } });
  await post({ group: group.id }, "the tomatoes are in");
  await post({ user: rosa.user.id }, "see you in the garden");
  const phone = await openPage(nodeB.url, PHONE);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const other = await openPage(nodeA.url, LAPTOP);
  const step = stepper(t, { phone, laptop, other });

  await step("Quinn opens the settings from the header of her phone: they fit the screen", async () => {
    await signInPage(phone, "quinn", "login");
    await openSettings(phone);
    const { session_id } = await storedSession(phone);
    await see(phone, device(session_id, ".name"), "Chrome on Linux");
    await fits(phone, [
      "[data-test=settings-close]",
      "[data-test=avatar-pick]",
      "[data-test=settings-name-save]",
      "[data-test=privacy-presence]",
      "[data-test=password-change]",
      "[data-test=devices-logout-others]",
      "[data-test=export]",
      "[data-test=delete-account]",
    ]);
    await shot(phone, "55-settings-phone");
  });

  await step("a new display name and avatar show in her header at once, and beside her name and messages for Rosa", async () => {
    await phone.fill("[data-test=settings-display-name]", "Quinn the Bold");
    await phone.click("[data-test=settings-name-save]");
    await see(phone, "[data-test=profile-status]", "Display name saved.");
    await phone.setInputFiles("[data-test=avatar-input]", { name: "me.png", mimeType: "image/png", buffer: png(96, 96) });
    await see(phone, "[data-test=profile-status]", "Photo changed.");
    await loaded(phone, "[data-test=settings-avatar] img");
    await shot(phone, "56-settings-avatar-phone");
    await phone.click("[data-test=settings-close]");
    await see(phone, "[data-test=me] .name", "Quinn the Bold");
    await loaded(phone, "[data-test=me-avatar] img");
    const { user } = await apiOk(nodeA, "GET", `/api/v1/users/${quinn.user.id}`, { token: rosa.token });
    assert.equal(user.display_name, "Quinn the Bold");
    assert.ok(user.avatar);
    await signInPage(laptop, "rosa", "login");
    await loaded(laptop, "[data-test=contact][data-user=quinn] [data-test=avatar-image]");
    await loaded(laptop, "[data-test=chat][data-name='Quinn the Bold'] [data-test=avatar-image]");
    await laptop.click("[data-test=chat][data-name=Garden]");
    await see(laptop, "[data-test=author] .name", "Quinn the Bold");
    await loaded(laptop, "[data-test=author] [data-test=avatar-image]");
    await laptop.click("[data-test=chat][data-name='Quinn the Bold']");
    await loaded(laptop, "[data-test=conversation-avatar] [data-test=avatar-image]");
    await shot(laptop, "57-avatars-laptop");
  });

  await step("the privacy settings are saved, and shown again as saved", async () => {
    await openSettings(phone);
    await phone.selectOption("[data-test=privacy-group-invites]", "nobody");
    await see(phone, "[data-test=privacy-status]", "Saved.");
    await phone.selectOption("[data-test=privacy-presence]", "contacts");
    const privacy = async () => (await apiOk(nodeB, "GET", "/api/v1/me", { token: quinn.token })).privacy;
    await eventually(privacy, { group_invites: "nobody", presence: "contacts" }, "Quinn's privacy settings");
    await phone.reload();
    await openSettings(phone);
    assert.equal(await phone.inputValue("[data-test=privacy-group-invites]"), "nobody");
    assert.equal(await phone.inputValue("[data-test=privacy-presence]"), "contacts");
  });

  await step("devices: this one is marked; another is logged out from the list, then all the others at once", async () => {
    await signInPage(other, "quinn", "login");
    const { session_id: otherSession } = await storedSession(other);
    await phone.click("[data-test=settings-close]");
    await openSettings(phone);
    await see(phone, device(otherSession, ".name"), "Chrome on Linux");
    await see(phone, device(quinn.session_id, ".name"), "Unnamed device");
    assert.equal(await phone.locator("[data-test=device]").count(), 3);
    await phone.locator("[data-test=devices-logout-others]").scrollIntoViewIfNeeded();
    await shot(phone, "58-devices-phone");
    await phone.click(device(otherSession, "[data-test=device-logout]"));
    await see(other, "[data-test=auth-error][data-reason=session_revoked]");
    await gone(phone, device(otherSession));
    await phone.click("[data-test=devices-logout-others]");
    await see(phone, "[data-test=devices-status]", "1 other device was logged out.");
    assert.equal(await revoked(nodeB, quinn.token), true);
    await gone(phone, device(quinn.session_id));
    assert.equal(await phone.locator("[data-test=devices-logout-others]").isDisabled(), true);
  });

  await step("the password: a wrong one is refused; the new one logs the other devices out, and says how many", async () => {
    const elsewhere = await login(nodeA, "quinn");
    await phone.fill("[data-test=password-current]", "not my password");
    await phone.fill("[data-test=password-new]", NEW_PASSWORD);
    await phone.click("[data-test=password-change]");
    await see(phone, "[data-test=password-status].error", "the password is wrong");
    await phone.fill("[data-test=password-current]", PASSWORD);
    await phone.click("[data-test=password-change]");
    await see(phone, "[data-test=password-status]:not(.error)", "Password changed. 1 other device was logged out.");
    assert.equal(await phone.inputValue("[data-test=password-new]"), "");
    assert.equal(await revoked(nodeA, elsewhere.token), true);
    await see(phone, "[data-test=connection][data-state=synced]");
  });

  await step("her data downloads as one JSON file", async () => {
    const [download] = await Promise.all([phone.waitForEvent("download"), phone.click("[data-test=export]")]);
    assert.equal(download.suggestedFilename(), "confab-export.json");
    const data = JSON.parse(readFileSync(await download.path(), "utf8"));
    assert.equal(data.user.username, "quinn");
    assert.deepEqual(data.messages.map((m) => m.body), ["the tomatoes are in", "see you in the garden"]);
    await see(phone, "[data-test=export-status]", "Downloaded confab-export.json");
  });

  await step("deleting the account asks for the password, then signs her out; Rosa sees “Deleted user”", async () => {
    await phone.fill("[data-test=delete-password]", "not my password");
    await phone.click("[data-test=delete-account]");
    await see(phone, "[data-test=delete-status].error", "the password is wrong");
    await phone.fill("[data-test=delete-password]", NEW_PASSWORD);
    await phone.click("[data-test=delete-account]");
    await see(phone, "[data-test=auth-error][data-reason=account_deleted]", "Your account was deleted.");
    assert.equal(await storedSession(phone), null);
    await shot(phone, "59-account-deleted-phone");
    const { status } = await api(nodeA, "POST", "/api/v1/auth/login", { body: { username: "quinn", password: NEW_PASSWORD }, timeoutMs: REGISTER_WITHIN_MS });
    assert.equal(status, 401);
    await laptop.reload();
    const chat = await see(laptop, "[data-test=chat][data-name='Deleted user']");
    assert.equal(await chat.locator(".handle").count(), 0);
    assert.equal(await laptop.locator("[data-test=contact]").count(), 0);
    await chat.click();
    await see(laptop, "[data-test=title] .person.deleted", "Deleted user");
    assert.equal(await laptop.locator("[data-test=title] .handle").count(), 0);
    await laptop.click("[data-test=chat][data-name=Garden]");
    await see(laptop, "[data-test=author] .name", "Deleted user");
    assert.equal(await laptop.locator("[data-test=author] .handle").count(), 0);
    await shot(laptop, "60-deleted-user-laptop");
  });
});

test("Log out ends the session on the server: its tokens are refused afterwards", { skip, timeout: 120_000 }, async (t) => {
  const [nodeA] = harness.cluster.nodes;
  await register(nodeA, "sven");
  const laptop = await openPage(nodeA.url, LAPTOP);
  const step = stepper(t, { laptop });

  await step("Sven logs in, then out", async () => {
    await see(laptop, "[data-test=login]");
    assert.equal(await laptop.locator("[data-test=auth-error]").isVisible(), false);
    await signInPage(laptop, "sven", "login");
    const { token, refresh_token } = await storedSession(laptop);
    await laptop.click("[data-test=logout]");
    await see(laptop, "[data-test=login]");
    assert.equal(await laptop.locator("[data-test=auth-error]").isVisible(), false);
    assert.equal(await storedSession(laptop), null);
    assert.equal(await revoked(nodeA, token), true);
    const refresh = await api(nodeA, "POST", "/api/v1/auth/refresh", { body: { refresh_token } });
    assert.deepEqual([refresh.status, refresh.body.error.code], [401, "session_revoked"]);
  });
});
