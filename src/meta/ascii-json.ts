/** JSON.stringify with every non-ASCII character escaped as \uXXXX: files made of these are plain ASCII. */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  return /[^\x00-\x7e]/.test(json) ? json.replace(/[^\x00-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
