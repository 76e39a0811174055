/**
 * RED-FLAG PHRASES — a reviewed clinical safety list (one file, nothing else holds phrases).
 *
 * What it does: before a patient's message is sent, the patient app looks for these phrases and,
 * if one is found, shows an interruptive "call 999 / 111 now" panel. The patient can still send
 * after reading it: the list warns, it never blocks (docs/clinical-safety.md, H1). The server cannot
 * read messages, so this client-side check is the only automatic screening (hazard log: H-RF-01).
 *
 * Who reviews it: the practice's Clinical Safety Officer (a registered clinician), at least every
 * six months and after any incident or near miss involving the chat.
 * How to change it: edit this file in a pull request that names the reviewing clinician, says why
 * in the description, and updates `reviewedOn` below; `red-flags.spec.ts` must still pass (add an
 * example for every new phrase). Phrases are matched case-insensitively, as whole words, with
 * curly apostrophes and repeated spaces normalised; keep them short and in everyday words.
 */
export const RED_FLAG_LIST = {
  version: 1,
  reviewedOn: '2026-11-21',
  reviewedBy: 'Clinical Safety Officer (initial list; to be countersigned before go-live)',
  groups: [
    {
      id: 'chest_pain',
      advice: 'Chest pain or tightness can be a heart attack.',
      phrases: ['chest pain', 'pain in my chest', 'chest hurts', 'chest is tight', 'tight chest', 'crushing pain', 'heart attack', 'pain down my left arm'],
    },
    {
      id: 'breathing',
      advice: 'Serious difficulty breathing needs help now.',
      phrases: ["can't breathe", 'cannot breathe', 'cant breathe', 'struggling to breathe', 'short of breath', 'choking', 'lips are blue', 'lips turning blue'],
    },
    {
      id: 'suicide_self_harm',
      advice: 'If you might act on thoughts of ending your life or harming yourself, you deserve help right now.',
      phrases: [
        'suicidal',
        'suicide',
        'kill myself',
        'end my life',
        'want to die',
        'overdose',
        'took too many tablets',
        'harm myself',
        'self harm',
        'self-harm',
        'cutting myself',
      ],
    },
    {
      id: 'stroke',
      advice: 'Face drooping, arm weakness or slurred speech can be a stroke: every minute matters.',
      phrases: ['stroke', 'face drooping', 'face is drooping', 'slurred speech', 'speech is slurred', "can't lift my arm", 'arm is weak', 'sudden confusion'],
    },
    {
      id: 'bleeding',
      advice: 'Heavy bleeding that will not stop needs help now.',
      phrases: [
        'heavy bleeding',
        "won't stop bleeding",
        'will not stop bleeding',
        'bleeding heavily',
        'coughing up blood',
        'vomiting blood',
        'blood in my vomit',
      ],
    },
    {
      id: 'collapse_seizure',
      advice: 'Collapse, fits or unconsciousness need an ambulance.',
      phrases: ['unconscious', 'passed out', 'collapsed', 'seizure', 'fitting', 'not breathing', 'unresponsive'],
    },
    {
      id: 'allergy_sepsis',
      advice: 'A severe allergic reaction or signs of sepsis need help now.',
      phrases: ['anaphylaxis', 'throat is swelling', 'tongue is swelling', 'rash that does not fade', "rash that doesn't fade", 'sepsis', 'meningitis'],
    },
    {
      id: 'pregnancy_child',
      advice: 'These symptoms in pregnancy or in a baby need urgent advice.',
      phrases: ['baby is floppy', 'baby not moving', 'reduced movements', 'bleeding in pregnancy', 'waters broke'],
    },
  ],
} as const;
