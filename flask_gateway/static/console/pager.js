// Cursor paging over the API's `next_cursor` (GET /v1/requests, GET /v1/employees), shared by the views.
// The API pages one way only (older), so the cursors of the pages already seen are kept as a stack: "older"
// pushes the page's next_cursor, "newer" pops back to the previous page's cursor.

/**
 * @param {object} options
 * @param {HTMLButtonElement} options.older  the button to the next (older) page
 * @param {HTMLButtonElement} options.newer  the button back to the previous (newer) page
 * @param {(cursor: string | null) => Promise<{next_cursor?: string | null}>} options.fetchPage
 * @param {(page: object, first: boolean) => void} options.render  draws a page; `first`: no newer page
 * @returns {{show: () => Promise<void>}} `show()` loads the first page
 */
export function cursorPager({ older, newer, fetchPage, render }) {
  const cursors = [null];
  let next = null;

  async function load() {
    const page = await fetchPage(cursors[cursors.length - 1]);
    next = page.next_cursor || null;
    render(page, cursors.length === 1);
    older.disabled = !next;
    newer.disabled = cursors.length === 1;
  }

  older.addEventListener("click", () => {
    if (next) cursors.push(next);
    load();
  });
  newer.addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    load();
  });
  return {
    show() {
      cursors.splice(1);
      return load();
    },
  };
}
