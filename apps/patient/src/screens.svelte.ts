import type { Component } from 'svelte';
import type { Screen } from './lib/state/patient-app.svelte';
import StartingPage from './routes/StartingPage.svelte';
import WelcomePage from './routes/WelcomePage.svelte';

type Load = () => Promise<{ default: Component }>;

// The first screen (starting, then welcome) is in the page's own script. Every other screen is a chunk of its own,
// fetched when the patient starts activation or sign-in (or a remembered device resumes): a first visit over a slow
// mobile network downloads only what it shows.
const LOADS: Record<Exclude<Screen, 'starting' | 'welcome'>, Load> = {
  activate: () => import('./routes/ActivatePage.svelte'),
  'sign-in': () => import('./routes/SignInPage.svelte'),
  terms: () => import('./routes/TermsPage.svelte'),
  home: () => import('./routes/HomePage.svelte'),
  chat: () => import('./routes/ChatPage.svelte'),
  locked: () => import('./routes/LockedPage.svelte'),
  'other-tab': () => import('./routes/OtherTabPage.svelte'),
};

const isLazy = (screen: Screen): screen is keyof typeof LOADS => screen in LOADS;

/** The page component of each screen, as it arrives. Created once by App.svelte. */
export class Screens {
  private pages = $state.raw<Partial<Record<Screen, Component>>>({ starting: StartingPage, welcome: WelcomePage });
  /** The screen whose code could not be fetched (offline before it ever loaded); `show` again retries. */
  failed = $state<Screen | null>(null);

  /** The page of `screen`, or null while its code is on its way. */
  page(screen: Screen): Component | null {
    return this.pages[screen] ?? null;
  }

  /**
   * Fetches `screen`'s code if it is not here yet, then every other screen's in the background: once the patient has
   * left the landing screen, a screen must still open when the network drops (the offline outbox, the privacy lock).
   */
  async show(screen: Screen): Promise<void> {
    if (!isLazy(screen)) return;
    this.failed = null;
    try {
      await this.load(screen);
    } catch {
      this.failed = screen;
      return;
    }
    for (const other of Object.keys(LOADS) as Screen[]) void this.load(other).catch(() => undefined);
  }

  private async load(screen: Screen): Promise<void> {
    if (!isLazy(screen) || this.pages[screen]) return;
    const { default: page } = await LOADS[screen]();
    this.pages = { ...this.pages, [screen]: page };
  }
}
