import { mockOf } from '../../../test/mocks.js';
import { FakeClock } from '../../common/clock.js';
import type { AppConfig } from '../../config.js';
import type { NotificationTarget } from '../notification-channel.js';
import type { NotificationContactsRepository } from '../notification-contacts.repository.js';
import { NotifyChannel } from './notify.channel.js';

const API_KEY = 'parley-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0';
const TARGET: NotificationTarget = {
  practiceId: '7b1f6a43-3f7e-4a7e-9d43-5d0f2f0a8c11',
  patientUserId: 'a4c1d0f2-9d6e-4f0b-8c5e-2f1a7b3e9d20',
  conversationId: 'c2e8b7a1-4d3f-4e9a-b1c6-8f0d2a5e7b33',
  practiceName: null,
};

describe(NotifyChannel.name, () => {
  const contacts = mockOf<NotificationContactsRepository>();
  const channelWith = (notify: AppConfig['notify']) => new NotifyChannel({ notify }, contacts, new FakeClock());

  afterEach(() => contacts.contactOf.mockReset());

  it('is named notify', () => {
    expect(channelWith(undefined).name).toBe('notify');
  });

  it('sends nothing and reads no contact when Notify is not configured', async () => {
    await expect(channelWith(undefined).notify(TARGET)).resolves.toBe(false);
    expect(contacts.contactOf).not.toHaveBeenCalled();
  });

  it('sends nothing to a patient who gave no contact', async () => {
    contacts.contactOf.mockResolvedValue(undefined);
    const channel = channelWith({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', smsTemplateId: crypto.randomUUID(), emailTemplateId: undefined });

    await expect(channel.notify(TARGET)).resolves.toBe(false);
    expect(contacts.contactOf).toHaveBeenCalledWith(TARGET.patientUserId);
  });

  it('sends nothing to a contact whose channel was turned off since the patient gave it', async () => {
    contacts.contactOf.mockResolvedValue({ channel: 'email', address: 'patient@example.org' });
    const channel = channelWith({ apiKey: API_KEY, baseUrl: 'http://127.0.0.1:9', smsTemplateId: crypto.randomUUID(), emailTemplateId: undefined });

    await expect(channel.notify(TARGET)).resolves.toBe(false);
    expect(contacts.markFailing).not.toHaveBeenCalled();
  });
});
