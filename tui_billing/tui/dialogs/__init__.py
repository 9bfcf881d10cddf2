"""Modal dialogs: typed ``ModalScreen[T]`` forms and choosers that ``dismiss()`` a value."""
