// Notes and transmissions: Ctrl+Enter (or Cmd+Enter) records from the text box, where
// Enter alone starts a new line. Everything else in these forms is plain HTML.
document.addEventListener("keydown", function (event) {
  var box = event.target;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && box.tagName === "TEXTAREA"
      && box.form && box.form.classList.contains("rec-form")) {
    event.preventDefault();
    box.form.requestSubmit();
  }
});
