// What a role may do in the app. The server decides who sees what
// (docs/protocol.md); the app only decides which pages to offer, and
// admins get every page instructors get (the dashboard, the class's
// history, merged views of several students), over all they may see.

import type { Role } from './types';

/** Instructors and admins: the dashboard and the class's history. */
export function isStaff(role: Role): boolean {
  return role === 'instructor' || role === 'admin';
}
