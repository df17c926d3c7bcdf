// Drives the upload page's Uppy dashboard as a person would: choose the kind, pick files or a
// whole folder, press Upload, wait until the batch is over.

// uploadFiles answers {successful, failed} of the batch.
export async function uploadFiles(page, { kind, files, folder, start = true }) {
  await page.getByLabel(/Kind of document|Tipo di documento|Tipo de documento/).selectOption(kind);
  const done = page.evaluate(() => new Promise((resolve) => {
    document.getElementById('uploader').addEventListener('so-upload-complete', (e) => resolve(e.detail), { once: true });
  }));
  done.catch(() => {});
  await chooseFiles(page, { files, folder });
  if (start) await page.locator('.uppy-StatusBar-actionBtn--upload').click();
  return done;
}

// chooseFiles puts files (or a folder) in the dashboard's own file input.
export async function chooseFiles(page, { files, folder }) {
  const input = folder
    ? page.locator('#uppy-dashboard input[type=file][webkitdirectory]')
    : page.locator('#uppy-dashboard input[type=file]:not([webkitdirectory])');
  if (await input.count() === 0) {
    // After a batch the dashboard lists the files; its "add more" button shows the inputs again.
    await page.locator('#uppy-dashboard .uppy-DashboardContent-addMore').click();
  }
  await input.first().setInputFiles(folder ?? files);
}
