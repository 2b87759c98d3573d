/**
 * The container image reference grammar (the one docker and podman accept): an optional
 * registry host with port, lower-case path components joined by `/`, an optional tag and an
 * optional digest. Checked before the runtime is asked, so a bad name fails the task with a
 * clear reason instead of a runtime's usage error (and can never be taken for a flag).
 */
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^(${NAME})(?::${TAG})?(?:@${DIGEST})?$`);
const MAX_NAME_LENGTH = 255;

/** Why `image` is not a valid reference, or undefined when it is. */
export function imageReferenceProblem(image: string): string | undefined {
  const match = REFERENCE.exec(image);
  if (!match) {
    return (
      `${JSON.stringify(image)} is not a valid image reference: use [registry/]name[:tag][@digest] ` +
      'with a lower-case name, e.g. docker.io/library/python:3.12'
    );
  }
  if ((match[1] ?? '').length > MAX_NAME_LENGTH) {
    return `image name ${JSON.stringify(image.slice(0, 40))}… is longer than ${MAX_NAME_LENGTH} characters`;
  }
  return undefined;
}
