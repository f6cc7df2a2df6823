// The web client with people and groups, in a real browser against a real two-node cluster
// (helpers.js): Kim (laptop, node A) removes Leo (phone, node B) from her contacts, Leo
// blocks and unblocks her, and her message refused meanwhile stays in the conversation,
// failed with the server's reason, until she retries it (or discards another); Olga
// (laptop, node A) manages her group — rename, roles, removal, dissolution — where Pete
// (phone, node B) sees the controls only once he is an admin, and only those an admin has;
// Yan (phone, node A) starts a public group and a private one with the sidebar's form, and
// Zoe (phone, node B) finds the public groups in the directory — never the private one — and
// joins one. Screenshots go to artifacts/.

import { test } from "node:test";
import assert from "node:assert/strict";
import { api, apiOk, befriend } from "../js/lib/confab.js";
import { LAPTOP, PHONE, STORED, at, eventually, fits, gone, harness, openPage, register, see, send, shot, signInPage, skip, stepper, useCluster } from "./helpers.js";

useCluster();

/** The direct conversation id of two users (docs/API.md §1.4). */
function directId(a, b) {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

/** The messages of the open conversation that failed to send. */
const FAILED = "[data-test=message][data-status=failed]";

test("a refused message stays, failed with the server's reason, to retry or discard; contacts removed, blocked and unblocked from the page", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [kim, leo] = await Promise.all(["kim", "leo"].map((name) => register(nodeA, name)));
  await befriend(nodeA, kim, leo);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  const contactsOf = (who) => apiOk(nodeA, "GET", "/api/v1/contacts", { token: who.token });
  let clientMsgId;

  await step("Kim (laptop) and Leo (phone) log in and exchange a message", async () => {
    await Promise.all([signInPage(laptop, "kim", "login"), signInPage(phone, "leo", "login")]);
    await laptop.click("[data-test=contact][data-user=leo]");
    await send(laptop, "hi Leo");
    await phone.click("[data-test=chat][data-name=kim]");
    await see(phone, "[data-test=message]", "hi Leo");
  });

  await step("removing a contact from the conversation's header ends it for both", async () => {
    await laptop.click("[data-test=contact-remove]");
    await gone(laptop, "[data-test=contact][data-user=leo]");
    await gone(phone, "[data-test=contact][data-user=kim]");
    assert.deepEqual((await contactsOf(leo)).contacts, []);
    // No longer a contact: the header offers only Block.
    await gone(laptop, "[data-test=contact-remove]");
    await see(laptop, "[data-test=block]");
  });

  await step("blocking from the conversation's header lists the user as blocked", async () => {
    await phone.click("[data-test=block]");
    await see(phone, "[data-test=unblock]");
    assert.deepEqual((await contactsOf(leo)).blocked.map((b) => b.user.username), ["kim"]);
    await phone.click("[data-test=back]");
    await see(phone, "[data-test=blocked][data-user=kim]");
    await shot(phone, "38-blocked-phone");
  });

  await step("a message the server refuses stays in the conversation, failed, with the reason", async () => {
    await laptop.fill("[data-test=composer]", "are you there?");
    await laptop.press("[data-test=composer]", "Enter");
    const failed = await see(laptop, `${FAILED}[data-code=blocked]`, "are you there?");
    await see(laptop, `${FAILED} [data-test=failure]`, "Not sent: one of you has blocked the other");
    await see(laptop, `${FAILED} [data-test=retry]`);
    await see(laptop, `${FAILED} [data-test=discard]`);
    assert.equal(await laptop.inputValue("[data-test=composer]"), "");
    clientMsgId = await failed.getAttribute("data-client-msg-id");
    assert.ok(clientMsgId);
    await shot(laptop, "39-failed-message-laptop");
  });

  await step("a refused message is discarded", async () => {
    await laptop.fill("[data-test=composer]", "x".repeat(70_000));
    await laptop.press("[data-test=composer]", "Enter");
    const tooLarge = await see(laptop, `${FAILED}[data-code=too_large]`, "Not sent: the body is over 65536 bytes");
    await tooLarge.locator("[data-test=discard]").click();
    await gone(laptop, `${FAILED}[data-code=too_large]`);
    assert.equal(await laptop.locator(FAILED).count(), 1);
  });

  await step("after an unblock, Retry sends the message once, with the client id of the first try", async () => {
    await phone.click("[data-test=blocked][data-user=kim] [data-test=blocked-unblock]");
    await gone(phone, "[data-test=blocked]");
    assert.deepEqual((await contactsOf(leo)).blocked, []);
    await laptop.click(`${FAILED} [data-test=retry]`);
    await see(laptop, STORED, "are you there?");
    assert.equal(await laptop.locator(FAILED).count(), 0);
    await phone.click("[data-test=chat][data-name=kim]");
    await see(phone, "[data-test=message]", "are you there?");
    const conversation = directId(kim.user.id, leo.user.id);
    const { messages } = await apiOk(nodeB, "GET", `/api/v1/conversations/${conversation}/messages`, { token: leo.token });
    assert.deepEqual(messages.filter((m) => m.body === "are you there?").map((m) => m.client_msg_id), [clientMsgId]);
    await shot(laptop, "40-retried-laptop");
  });
});

test("group management in the browser: rename, roles, removal and dissolution, for the owner and admins only", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [olga, pete, quin] = await Promise.all(["olga", "pete", "quin"].map((name) => register(nodeA, name)));
  await befriend(nodeA, olga, pete);
  await befriend(nodeA, olga, quin);
  const { group } = await apiOk(nodeA, "POST", "/api/v1/groups", { token: olga.token, body: { name: "Choir", members: [pete.user.id, quin.user.id] } }, 201);
  const laptop = await openPage(nodeA.url, LAPTOP);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { laptop, phone });
  const groupNow = async () => (await apiOk(nodeA, "GET", `/api/v1/groups/${group.id}`, { token: olga.token })).group;
  const member = (username, inside = "") => `[data-test=member][data-user=${username}] ${inside}`.trim();

  await step("Olga (laptop, the owner) and Pete (phone, a member) open the group", async () => {
    await Promise.all([signInPage(laptop, "olga", "login"), signInPage(phone, "pete", "login")]);
    await laptop.click("[data-test=chat][data-name=Choir]");
    await phone.click("[data-test=chat][data-name=Choir]");
    await see(phone, "[data-test=title]", "Choir");
  });

  await step("a plain member sees no management controls", async () => {
    await see(phone, "[data-test=leave]");
    for (const control of ["group-manage", "member-add", "member-remove", "member-role", "group-rename", "group-dissolve"]) {
      assert.equal(await phone.locator(`[data-test=${control}]`).count(), 0, `${control} is shown to a plain member`);
    }
    await see(laptop, "[data-test=group-manage]");
  });

  await step("the owner renames the group; the members see the new name", async () => {
    await laptop.click("[data-test=group-manage-open]");
    await see(laptop, member("quin", "[data-test=member-remove]"));
    await laptop.fill("[data-test=group-rename-input]", "Chamber choir");
    await laptop.click("[data-test=group-rename]");
    await see(phone, "[data-test=title]", "Chamber choir");
    assert.equal((await groupNow()).name, "Chamber choir");
    await shot(laptop, "41-group-manage-laptop");
  });

  await step("the owner makes a member an admin, who then manages plain members, but not roles or the group", async () => {
    await laptop.selectOption(member("pete", "[data-test=member-role]"), "admin");
    await see(laptop, `${member("pete")}[data-role=admin]`);
    assert.equal((await groupNow()).members.find((m) => m.user === pete.user.id).role, "admin");
    await phone.click("[data-test=group-manage-open]");
    await see(phone, member("quin", "[data-test=member-remove]"));
    assert.equal(await phone.locator(member("olga", "[data-test=member-remove]")).count(), 0);
    assert.equal(await phone.locator("select[data-test=member-role]").count(), 0);
    assert.equal(await phone.locator("[data-test=group-dissolve]").count(), 0);
    await shot(phone, "42-group-admin-phone");
  });

  await step("an admin removes a plain member; the owner's page shows it", async () => {
    await phone.click(member("quin", "[data-test=member-remove]"));
    await gone(laptop, member("quin"));
    assert.deepEqual((await groupNow()).members.map((m) => m.user).sort(), [olga.user.id, pete.user.id].sort());
    assert.doesNotMatch(await laptop.textContent("[data-test=subtitle]"), /quin/);
  });

  await step("the owner dissolves the group: it is gone for everyone", async () => {
    await laptop.click("[data-test=group-dissolve]");
    await gone(laptop, "[data-test=chat][data-name='Chamber choir']");
    await gone(phone, "[data-test=chat][data-name='Chamber choir']");
    await see(phone, "[data-test=contact][data-user=olga]");
    assert.deepEqual((await apiOk(nodeB, "GET", "/api/v1/groups", { token: pete.token })).groups, []);
    assert.equal((await api(nodeA, "GET", `/api/v1/groups/${group.id}`, { token: olga.token })).status, 404);
    await shot(phone, "43-group-dissolved-phone");
  });
});

test("the directory of public groups: found by name with their member counts, and joined from the phone", { skip, timeout: 240_000 }, async (t) => {
  const [nodeA, nodeB] = harness.cluster.nodes;
  const [yan, wren] = await Promise.all(["yan", "wren", "zoe"].map((name) => register(nodeA, name)));
  const create = async (name, isPublic) => (await apiOk(nodeA, "POST", "/api/v1/groups", { token: yan.token, body: { name, public: isPublic } }, 201)).group;
  const chess = await create("Chess club", true);
  await create("Book circle", true);
  await apiOk(nodeA, "POST", `/api/v1/groups/${chess.id}/join`, { token: wren.token });
  const owner = await openPage(nodeA.url, PHONE);
  const phone = await openPage(nodeB.url, PHONE);
  const step = stepper(t, { owner, phone });
  const listed = () => phone.locator("[data-test=directory-group]").evaluateAll((rows) => rows.map((row) => [row.dataset.name, row.querySelector("[data-test=directory-members]").textContent]));
  const chessClub = (inside) => `[data-test=directory-group][data-name='Chess club'] ${inside}`;

  await step("Yan (phone) starts a group with the form's Public box checked, then one without it", async () => {
    const submit = async (name) => {
      await owner.click("[data-test=group-create]");
      await see(owner, "[data-test=title]", name);
      await owner.click("[data-test=back]");
    };
    await signInPage(owner, "yan", "login");
    await owner.click("[data-test=new-group]");
    await owner.fill("[data-test=group-name]", "Chess problems");
    await owner.check("[data-test=group-public]");
    await owner.locator("[data-test=group-create]").scrollIntoViewIfNeeded();
    await fits(owner, ["[data-test=group-public]", "[data-test=group-create]"]);
    await shot(owner, "77-new-public-group-phone");
    await submit("Chess problems");
    // The form is cleared, its box too.
    assert.equal(await owner.isChecked("[data-test=group-public]"), false);
    await owner.fill("[data-test=group-name]", "Chess secrets");
    await submit("Chess secrets");
    const { groups } = await apiOk(nodeA, "GET", "/api/v1/groups", { token: yan.token });
    assert.deepEqual(Object.fromEntries(groups.map((g) => [g.name, g.public])), { "Chess club": true, "Book circle": true, "Chess problems": true, "Chess secrets": false });
  });

  await step("Zoe opens the directory: every public group by name, with its members; no private one", async () => {
    await signInPage(phone, "zoe", "login");
    await phone.click("[data-test=directory-open]");
    await eventually(listed, [["Book circle", "1 member"], ["Chess club", "2 members"], ["Chess problems", "1 member"]], "the public groups");
  });

  await step("a search finds the groups whose name contains it, in any case", async () => {
    await phone.fill("[data-test=directory-query]", "CHESS");
    await phone.click("[data-test=directory-search]");
    await eventually(listed, [["Chess club", "2 members"], ["Chess problems", "1 member"]], "the chess groups");
    await see(phone, chessClub("[data-test=directory-join]"));
    await fits(phone, [chessClub("[data-test=directory-join]"), "[data-test=directory-search]"]);
    await shot(phone, "74-directory-phone");
  });

  await step("joining opens the group, which joins the chat list; its members count her and she gets its messages", async () => {
    await phone.click(chessClub("[data-test=directory-join]"));
    await see(phone, "[data-test=title]", "Chess club");
    const { group } = await apiOk(nodeA, "GET", `/api/v1/groups/${chess.id}`, { token: yan.token });
    assert.equal(group.members.length, 3);
    const { message } = await apiOk(nodeA, "POST", "/api/v1/messages", { token: yan.token, body: { to: { group: chess.id }, body: "welcome, Zoe", client_msg_id: "welcome" } });
    await see(phone, at(message.seq), "welcome, Zoe");
    await phone.click("[data-test=back]");
    await see(phone, "[data-test=chat][data-name='Chess club']");
    await see(phone, chessClub("[data-test=directory-view]"));
    await see(phone, chessClub("[data-test=directory-members]"), "3 members");
    await shot(phone, "75-directory-joined-phone");
  });
});
