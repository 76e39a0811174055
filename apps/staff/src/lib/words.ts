// What the screens say for codes the gateway answers and ids it uses.

/** Words for the error codes the commands and routes answer. */
export function explain(code: string): string {
  switch (code) {
    case 'at_capacity':
      return 'You are at your cap or marked away: finish a conversation or become available first.';
    case 'conflict':
      return 'Someone else got there first: that conversation is no longer waiting.';
    case 'forbidden':
      return 'Your role does not allow that.';
    case 'not_found':
      return 'That no longer exists.';
    case 'too_large':
      return 'That is larger than the practice accepts.';
    case 'invalid_payload':
      return 'Those values are not allowed.';
    case 'rate_limited':
      return 'The practice system is busy; try again in a moment.';
    case 'timeout':
    case 'disconnected':
      return 'The connection dropped; try again in a moment.';
    default:
      return 'That did not work; try again.';
  }
}

/** A topic id as words ("test-results" → "Test results"). */
export function topicLabel(topic: string): string {
  const words = topic.replace(/-/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Bytes in a MB as the limits count them (MiB). */
export const MIB = 1_048_576;

/** What a person calls each accepted type of file. */
export function attachmentTypeLabel(type: string): string {
  return (
    ({ 'image/jpeg': 'JPEG photo', 'image/png': 'PNG image', 'image/webp': 'WebP image', 'application/pdf': 'PDF document' } as Record<string, string>)[type] ??
    type
  );
}

/** A file size as people read it: "840 KB", "1.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1_024) return `${bytes} bytes`;
  if (bytes < MIB) return `${Math.round(bytes / 1_024)} KB`;
  return `${(bytes / MIB).toFixed(1)} MB`;
}
