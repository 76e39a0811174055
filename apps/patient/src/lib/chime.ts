/**
 * A short, quiet two-note tone made with WebAudio (no sound file to download). Browsers start audio
 * only after the person has touched the page, so `unlock` is called from the first tap or key press;
 * until then, or if the browser still refuses, `play` stays silent rather than failing.
 */
export class Chime {
  private context: AudioContext | null = null;

  /** Creates (or resumes) the audio context inside a user gesture, as autoplay rules require. */
  unlock(): void {
    try {
      this.context ??= new AudioContext();
      if (this.context.state === 'suspended') void this.context.resume().catch(() => undefined);
    } catch {
      // No WebAudio here: the chime is silent; the unread counts still show.
    }
  }

  /** Plays the tone once, if the browser lets the page make a sound now. */
  play(): void {
    const context = this.context;
    if (!context || context.state !== 'running') return;
    const gain = context.createGain();
    gain.connect(context.destination);
    const start = context.currentTime;
    // Soft attack and release: a gentle "ding-dong", not a beep.
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.08, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.45);
    for (const [frequency, offset] of [
      [784, 0],
      [659, 0.15],
    ] as const) {
      const tone = context.createOscillator();
      tone.type = 'sine';
      tone.frequency.value = frequency;
      tone.connect(gain);
      tone.start(start + offset);
      tone.stop(start + offset + 0.3);
    }
  }
}
