// idle — the automatic sign-off warning. The deadline comes from the server (idle_remaining_s of
// GET /auth/session, which does not extend the session) and moves whenever a request that the
// server counts as activity succeeds. Shortly before it (min(60 s, idle_timeout / 2)) an alert dialog
// offers "Stay signed in" (POST /auth/keepalive) or "Sign out"; when the time is up the UI signs out.
// User activity (pointer, keys, wheel) sends a keepalive at most once a minute (sooner only when the
// idle timeout itself is very short), and never while the warning is open: then only the button
// counts. Timing uses Date.now() and setInterval so tests may fast-forward the page's clock.

import { fmtDuration } from './format.js';

const ACTIVITY_EVENTS = ['pointerdown', 'keydown', 'wheel', 'touchstart'];
const CHANNEL = 'phiportal-session';

export class IdleMonitor {
  constructor({ dialog, keepalive, onExpire, onSignOut }) {
    this.dialog = dialog;
    this.keepalive = keepalive;
    this.onExpire = onExpire;
    this.onSignOut = onSignOut;
    this.countdown = dialog.querySelector('[data-idle-countdown]');
    this.stayButton = dialog.querySelector('[data-idle-stay]');
    this.signOutButton = dialog.querySelector('[data-idle-signout]');
    this.running = false;
    this.timer = null;
    this.returnFocus = null;
    this.pending = false;
    this.onActivityEvent = () => this.activity();
    this.onVisible = () => { if (document.visibilityState === 'visible') this.tick(); };

    this.stayButton.addEventListener('click', () => this.stay());
    this.signOutButton.addEventListener('click', () => { this.hideWarning(); this.onSignOut(); });
    // Escape on the warning means the person is there: treat it like "Stay signed in".
    dialog.addEventListener('cancel', (ev) => { ev.preventDefault(); this.stay(); });

    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
    if (this.channel) {
      this.channel.onmessage = (ev) => {
        const m = ev.data || {};
        if (!this.running) return;
        if (m.type === 'extend' && Number.isFinite(m.deadline) && m.deadline > this.deadline) {
          this.deadline = Math.min(m.deadline, this.absoluteDeadline);
          this.tick();
        }
      };
    }
  }

  get warningOpen() {
    return this.dialog.open;
  }

  // session: the body of GET /auth/session or POST /auth/keepalive
  start(session) {
    const timeout = Number(session.idle_timeout_s) > 0 ? Number(session.idle_timeout_s) : 900;
    this.timeoutMs = timeout * 1000;
    this.leadMs = Math.min(60, timeout / 2) * 1000;
    this.throttleMs = Math.min(60, timeout / 4) * 1000;
    this.sync(session);
    this.lastKeepalive = Date.now();
    if (!this.running) {
      this.running = true;
      for (const ev of ACTIVITY_EVENTS) document.addEventListener(ev, this.onActivityEvent, { capture: true, passive: true });
      document.addEventListener('visibilitychange', this.onVisible);
      this.timer = setInterval(() => this.tick(), 1000);
    }
    this.tick();
  }

  sync(session) {
    const now = Date.now();
    const idle = Number(session.idle_remaining_s);
    const abs = Number(session.absolute_remaining_s);
    this.absoluteDeadline = Number.isFinite(abs) ? now + abs * 1000 : Infinity;
    this.deadline = Math.min(now + (Number.isFinite(idle) ? idle * 1000 : this.timeoutMs), this.absoluteDeadline);
  }

  stop() {
    this.running = false;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const ev of ACTIVITY_EVENTS) document.removeEventListener(ev, this.onActivityEvent, { capture: true });
    document.removeEventListener('visibilitychange', this.onVisible);
    this.hideWarning(false);
  }

  // A request the server counted as activity just succeeded: the idle timer restarted there.
  touched() {
    if (!this.running) return;
    this.deadline = Math.min(Date.now() + this.timeoutMs, this.absoluteDeadline);
    if (this.channel) this.channel.postMessage({ type: 'extend', deadline: this.deadline });
    this.tick();
  }

  activity() {
    if (!this.running || this.warningOpen || this.pending) return;
    if (Date.now() - this.lastKeepalive < this.throttleMs) return;
    this.sendKeepalive();
  }

  async sendKeepalive() {
    this.pending = true;
    this.lastKeepalive = Date.now();
    try {
      const session = await this.keepalive();
      if (this.running && session) this.sync(session);
      return true;
    } catch {
      return false; // a 401 is handled by the app (it shows the sign-in view)
    } finally {
      this.pending = false;
    }
  }

  async stay() {
    if (this.pending) return;
    const ok = await this.sendKeepalive();
    if (ok) this.hideWarning();
    this.tick();
  }

  tick() {
    if (!this.running) return;
    const remaining = this.deadline - Date.now();
    if (remaining <= 0) {
      this.expire();
    } else if (remaining <= this.leadMs) {
      this.showWarning(remaining);
    } else if (this.warningOpen) {
      this.hideWarning();
    }
  }

  expire() {
    this.stop();
    this.onExpire();
  }

  showWarning(remainingMs) {
    const absolute = this.deadline >= this.absoluteDeadline;
    this.countdown.textContent = fmtDuration(remainingMs / 1000);
    this.dialog.classList.toggle('is-absolute', absolute);
    this.stayButton.hidden = absolute;
    if (this.warningOpen) return;
    this.returnFocus = document.activeElement;
    this.dialog.showModal();
    (absolute ? this.signOutButton : this.stayButton).focus();
  }

  hideWarning(restoreFocus = true) {
    if (!this.warningOpen) return;
    this.dialog.close();
    if (restoreFocus && this.returnFocus && this.returnFocus.isConnected && this.returnFocus !== document.body) {
      this.returnFocus.focus();
    }
    this.returnFocus = null;
  }
}
