import { contextPair } from '@parley/ui';

/** Chromium's `beforeinstallprompt` event (not in the DOM types): the browser's own "install this app" dialog, kept for later. */
interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  readonly userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

/**
 * Whether the browser offers to install the app, and the offer itself. The browser fires `beforeinstallprompt` when it
 * would install the app (often before the home screen shows), so the event is kept from the start; the home screen
 * offers "Install the app" only while it is kept, and never again after the app is installed or the patient said no.
 */
export class InstallPrompt {
  /** Whether the home screen shows the install hint. */
  canInstall = $state(false);
  private offer: BeforeInstallPromptEvent | null = null;

  constructor(target: Pick<Window, 'addEventListener'> = window) {
    target.addEventListener('beforeinstallprompt', (event) => {
      // The browser's own mini-infobar would appear at a moment the patient did not choose: the hint asks instead.
      event.preventDefault();
      this.offer = event as BeforeInstallPromptEvent;
      this.canInstall = true;
    });
    target.addEventListener('appinstalled', () => this.forget());
  }

  /** Shows the browser's install dialog (from the patient's click); the hint goes whatever they choose. */
  async install(): Promise<void> {
    const offer = this.offer;
    if (!offer) return;
    // An offer can be shown once: the browser fires a new event if it offers again.
    this.forget();
    await offer.prompt().catch(() => undefined);
    await offer.userChoice.catch(() => undefined);
  }

  private forget(): void {
    this.offer = null;
    this.canInstall = false;
  }
}

export const [setInstallPrompt, getInstallPrompt] = contextPair<InstallPrompt>('install-prompt');
