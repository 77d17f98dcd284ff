/* Puts the caret in the page's [autofocus] field as soon as the page is parsed. Chromium
   applies autofocus only at its next rendering update, which a loaded ward computer can
   hold back by seconds: a nurse who starts typing at once (the next dose of a round, the
   field a refused entry points at) would type into nothing. Does nothing when something
   already has the focus, so it never takes the caret from where the user put it. */
(function () {
  "use strict";
  var field = document.querySelector("[autofocus]");
  var active = document.activeElement;
  if (field && (!active || active === document.body)) {
    field.focus();
  }
}());
